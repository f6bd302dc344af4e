#include "engine/spec/draft_proposer.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "core/error.h"

namespace qwen3::engine {

namespace {
KvCacheOptions draft_kv_options(const Qwen3Model& m, const DraftModelOptions& o) {
  if (o.num_pages <= 0 || o.page_size <= 0)
    fail("draft proposer: num_pages ({}) and page_size ({}) must be positive", o.num_pages, o.page_size);
  return m.kv_options(o.num_pages, o.page_size, o.kv_dtype);
}

// Adds the time between construction and destruction to `seconds`, also when propose() throws.
struct Timer {
  double& seconds;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  ~Timer() { seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};
}  // namespace

DraftModelProposer::DraftModelProposer(std::unique_ptr<Qwen3Model> draft, DraftModelOptions opts)
    : draft_(std::move(draft)), opts_(std::move(opts)), kv_(draft_kv_options(*draft_, opts_)) {
  if (opts_.target_vocab <= 0) opts_.target_vocab = draft_->config().vocab_size;
}

void DraftModelProposer::drop(SeqId id) {
  if (kv_.contains(id)) kv_.remove_sequence(id);
  fed_.erase(id);
}

void DraftModelProposer::release(SeqId id) { drop(id); }

// Brings the request's sequence in line with its tokens and reserves the pages of this call (the
// catch-up chunk and the k - 1 drafts fed back). Returns how many tokens to draft (0: none) and
// the catch-up chunk in `chunk`.
int DraftModelProposer::prepare(const DraftRequest& r, SeqChunk& chunk) {
  const Qwen3Config& c = draft_->config();
  const int64_t L = int64_t(r.tokens.size());
  // Positions up to L + k - 2 are written (the last draft is not fed).
  const int64_t k = std::min<int64_t>(r.k, c.max_context() - L + 1);
  if (L == 0 || k <= 0) return 0;
  auto [it, fresh] = fed_.try_emplace(r.id);
  if (fresh) kv_.add_sequence(r.id);
  std::vector<int32_t>& fed = it->second;
  int64_t common = std::mismatch(fed.begin(), fed.end(), r.tokens.begin(), r.tokens.end()).first - fed.begin();
  if (common == L) --common;  // the last token is fed again: its logits give draft token 1
  kv_.pop(r.id, int64_t(fed.size()) - common);
  fed.resize(size_t(common));
  const auto catch_up = r.tokens.subspan(size_t(common));
  for (int32_t t : catch_up)
    if (t < 0 || t >= c.vocab_size) return 0;  // the draft cannot read it; its state stays valid
  try {
    kv_.reserve(r.id, int64_t(catch_up.size()) + k - 1);
  } catch (const KvCacheFull&) {
    drop(r.id);
    ++stats_.dropped;
    return 0;
  }
  chunk = {.seq = r.id, .tokens = catch_up, .want = LogitsWanted::Last};
  return int(k);
}

void DraftModelProposer::choose(const DraftRequest& r, std::span<const float> row, Draft& d) {
  static const SamplingParams kGreedy = [] {
    SamplingParams p;
    p.temperature = 0;
    return p;
  }();
  const SamplingParams& p = r.params ? *r.params : kGreedy;
  const size_t V = size_t(opts_.target_vocab);
  std::span<const float> logits = row.first(std::min(V, row.size()));
  if (row.size() < V) {  // tokens the draft cannot produce get probability 0
    row_.assign(row.begin(), row.end());
    row_.resize(V, -std::numeric_limits<float>::infinity());
    logits = row_;
  }
  // The penalties' history: prompt, then output so far followed by the drafts so far.
  const size_t pl = size_t(std::clamp<int64_t>(r.prompt_len, 0, int64_t(r.tokens.size())));
  history_.assign(r.tokens.begin() + pl, r.tokens.end());
  history_.insert(history_.end(), d.tokens.begin(), d.tokens.end());
  const auto prompt = r.tokens.first(pl);
  if (p.temperature <= 0) {  // distribution() would put 1 on this token; no q is needed
    const auto l = process_logits(logits, p, prompt, history_, scratch_);
    d.tokens.push_back(int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
    return;
  }
  if (!r.rng) fail("draft proposer: request {} samples (temperature {}) but has no rng", r.id, p.temperature);
  d.q.emplace_back();
  distribution(logits, p, prompt, history_, scratch_, d.q.back());
  d.tokens.push_back(sample_from(d.q.back(), *r.rng));
}

void DraftModelProposer::propose(std::span<const DraftRequest> reqs, std::vector<Draft>& out) {
  Timer timer{stats_.seconds};
  ++stats_.calls;
  out.resize(reqs.size());
  for (Draft& d : out) d.tokens.clear(), d.q.clear();
  k_.assign(reqs.size(), 0);
  next_.assign(reqs.size(), 0);  // spans into next_ stay valid: no resize below
  active_.clear();
  chunks_.clear();
  for (size_t i = 0; i < reqs.size(); ++i) {
    SeqChunk chunk;
    k_[i] = prepare(reqs[i], chunk);
    if (k_[i] > 0) active_.push_back(i), chunks_.push_back(chunk);
  }
  // Round 0 feeds the catch-up chunks, round r >= 1 the draft token of round r - 1; each ends with
  // one logits row per active request (row j for chunk j).
  for (int round = 0; !chunks_.empty(); ++round) {
    draft_->forward(chunks_, kv_, logits_);
    ++stats_.forward_passes;
    for (size_t j = 0; j < active_.size(); ++j) {
      const size_t i = active_[j];
      std::vector<int32_t>& fed = fed_[reqs[i].id];
      fed.insert(fed.end(), chunks_[j].tokens.begin(), chunks_[j].tokens.end());
      stats_.tokens_fed += int64_t(chunks_[j].tokens.size());
      choose(reqs[i], logits_.row(j), out[i]);
      next_[i] = out[i].tokens.back();
    }
    // The next round: the requests that want more than round + 1 tokens.
    size_t kept = 0;
    for (size_t j = 0; j < active_.size(); ++j) {
      const size_t i = active_[j];
      if (k_[i] <= round + 1) continue;
      active_[kept] = i;
      chunks_[kept] = {.seq = reqs[i].id, .tokens = {&next_[i], 1}, .want = LogitsWanted::Last};
      ++kept;
    }
    active_.resize(kept);
    chunks_.resize(kept);
  }
  for (const Draft& d : out) stats_.tokens_proposed += int64_t(d.tokens.size());
}

std::string compare_vocabularies(const Tokenizer& target, const Tokenizer& draft) {
  if (draft.vocab_size() < target.vocab_size())
    return fmt::format("the target has {} tokens and the draft {}", target.vocab_size(), draft.vocab_size());
  for (int32_t id = 0; id < target.vocab_size(); ++id) {
    if (!target.contains(id)) continue;
    const std::string& t = target.id_to_token(id);
    if (!draft.contains(id)) return fmt::format("token {} is '{}' in the target and missing in the draft", id, t);
    const std::string& d = draft.id_to_token(id);
    if (t != d) return fmt::format("token {} is '{}' in the target and '{}' in the draft", id, t, d);
    if (target.is_special(id) != draft.is_special(id))
      return fmt::format("token {} ('{}') is special in the {} and not in the {}", id, t,
                         target.is_special(id) ? "target" : "draft", target.is_special(id) ? "draft" : "target");
  }
  return "";
}

}  // namespace qwen3::engine
