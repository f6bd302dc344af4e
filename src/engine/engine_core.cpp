#include "engine/engine_core.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "core/error.h"
#include "core/parallel_for.h"

namespace qwen3::engine {

namespace {
using clock = std::chrono::steady_clock;
double seconds_since(clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); }
}  // namespace

EngineCore::EngineCore(Qwen3Model& model, CoreOptions options, std::unique_ptr<Proposer> proposer)
    : model_(model),
      options_(std::move(options)),
      max_context_(std::min<int64_t>(model.config().max_context(),
                                     options_.kv_pages * int64_t(options_.page_size))),
      kv_(model.kv_options(options_.kv_pages, options_.page_size, options_.kv_dtype)),
      scheduler_(kv_, SchedulerOptions{.max_running = options_.max_batch,
                                       .max_batch_tokens = options_.max_batch_tokens,
                                       .max_context = max_context_,
                                       .decode_prefill_tokens = options_.decode_prefill_tokens,
                                       .prefill_waiting_ratio = options_.prefill_waiting_ratio,
                                       .prefix_cache = options_.prefix_cache}),
      proposer_(std::move(proposer)),
      draft_length_(options_.spec) {
  if (proposer_ && options_.spec.max_k < 1) fail("speculative decoding: the draft length must be >= 1, got {}", options_.spec.max_k);
  if (proposer_ && proposer_->weight_bytes() > 0 && model_.weights().bytes() > 0)
    draft_length_.set_draft_cost_prior(double(proposer_->weight_bytes()) / double(model_.weights().bytes()));
}

void EngineCore::validate(std::span<const int32_t> prompt, const SamplingParams& p) const {
  if (prompt.empty()) fail("the prompt is empty");
  for (int32_t t : prompt)
    if (t < 0 || t >= model_.config().vocab_size)
      fail("token id {} is outside the vocabulary [0, {})", t, model_.config().vocab_size);
  if (p.n < 1 || p.n > 128) fail("n must be between 1 and 128, got {}", p.n);
  if (p.max_tokens < 1) fail("max_tokens must be at least 1, got {}", p.max_tokens);
  if (int64_t(prompt.size()) > max_context_ || p.max_tokens > max_context_ - int64_t(prompt.size()))
    fail("the prompt ({} tokens) plus max_tokens ({}) is longer than the context ({} tokens)", prompt.size(),
         p.max_tokens, max_context_);
  if (!(p.temperature >= 0)) fail("temperature must be >= 0, got {}", p.temperature);
  if (!(p.top_p > 0 && p.top_p <= 1)) fail("top_p must be in (0, 1], got {}", p.top_p);
  if (!(p.min_p >= 0 && p.min_p <= 1)) fail("min_p must be in [0, 1], got {}", p.min_p);
  if (!(p.repetition_penalty > 0)) fail("repetition_penalty must be > 0, got {}", p.repetition_penalty);
  if (!std::isfinite(p.presence_penalty) || !std::isfinite(p.frequency_penalty)) fail("penalties must be finite");
  if (p.top_logprobs < 0 || p.top_logprobs > 20) fail("top_logprobs must be between 0 and 20, got {}", p.top_logprobs);
  for (auto& [tok, bias] : p.logit_bias)
    if (tok < 0 || tok >= model_.config().vocab_size || !std::isfinite(bias))
      fail("logit_bias: token {} is outside the vocabulary or its bias is not finite", tok);
  if (p.constraint) {
    if (!p.constraint->grammar) fail("structured output: the constraint has no grammar");
    if (!options_.vocabulary) fail("structured output needs the tokenizer's vocabulary, which this engine was not given");
    if (int64_t(options_.vocabulary->size()) > model_.config().vocab_size)
      fail("structured output: the tokenizer has {} ids, more than the model's {}", options_.vocabulary->size(),
           model_.config().vocab_size);
    if (options_.vocabulary->end_ids().empty()) fail("structured output: the vocabulary has no end-of-sequence id");
    if (p.constraint->masker && p.constraint->masker->vocabulary().get() != options_.vocabulary.get())
      fail("structured output: the constraint's masker is over another vocabulary");
    if (p.ignore_eos) fail("ignore_eos cannot be combined with structured output (the grammar ends the text)");
    const Constraint& k = *p.constraint;
    if ((k.reasoning_open >= 0) != (k.reasoning_close >= 0) || k.reasoning_open >= model_.config().vocab_size ||
        k.reasoning_close >= model_.config().vocab_size)
      fail("structured output: reasoning_open and reasoning_close must both be token ids, or both unset");
  }
}

void EngineCore::add(RequestId id, ValidRequest request) {
  std::shared_ptr<const SamplingParams> params = std::move(request.params_);
  const SamplingParams& sp = *params;
  NewRequest nr{.id = id, .prompt = std::move(request.prompt_), .max_tokens = sp.max_tokens, .stop_token_ids = sp.stop_token_ids, .siblings = {}};
  if (!sp.ignore_eos) nr.stop_token_ids.insert(nr.stop_token_ids.end(), options_.eos_token_ids.begin(), options_.eos_token_ids.end());
  std::vector<RequestId> ids{id};
  for (int i = 1; i < sp.n; ++i) nr.siblings.push_back(id + i), ids.push_back(id + i);
  uint64_t seed = 0;
  if (sp.seed) {
    seed = *sp.seed;
  } else {
    std::random_device rd;
    seed = (uint64_t(rd()) << 32) ^ rd();
  }
  scheduler_.add(std::move(nr));
  for (int i = 0; i < sp.n; ++i) {
    // Choice i of a seeded request draws from its own stream, whatever else is in the batch; its
    // draft model (if any) from another.
    const uint64_t s = seed ^ (0x9e3779b97f4a7c15ULL * uint64_t(i));
    Choice& c = choices_.emplace(id + i, Choice{params, Rng(s), Rng(s ^ 0xd1b54a32d192ed03ULL), 0, false, {}, {}}).first->second;
    if (sp.constraint) {
      Masker& m = maskers_[sp.constraint->grammar.get()];
      if (!m.masker) {
        m.grammar = sp.constraint->grammar;
        m.masker = sp.constraint->masker ? sp.constraint->masker
                                         : std::make_shared<grammar::TokenMasker>(
                                               m.grammar, options_.vocabulary,
                                               grammar::MaskCacheOptions{.max_bytes = options_.mask_cache_bytes});
      }
      ++m.users;
      const Constraint& k = *sp.constraint;
      const bool reasoning = k.reasoning_open >= 0 && k.reasoning_close >= 0;
      c.phase = reasoning && k.in_reasoning ? Choice::Phase::Reasoning : Choice::Phase::Start;
      if (c.phase == Choice::Phase::Start) c.matcher.emplace(m.grammar, options_.vocabulary);
    }
  }
  groups_[id] = std::move(ids);
}

void EngineCore::end(RequestId id) {
  if (auto it = choices_.find(id); it != choices_.end() && it->second.params->constraint) {
    auto m = maskers_.find(it->second.params->constraint->grammar.get());
    if (m != maskers_.end() && --m->second.users <= 0) maskers_.erase(m);
  }
  choices_.erase(id);
  drafts_.erase(id);
  if (proposer_) proposer_->release(id);
  draft_length_.release(id);
  for (auto g = groups_.begin(); g != groups_.end(); ++g) {
    auto& v = g->second;
    auto it = std::find(v.begin(), v.end(), id);
    if (it == v.end()) continue;
    v.erase(it);
    if (v.empty()) groups_.erase(g);
    break;
  }
}

void EngineCore::abort(RequestId id) {
  scheduler_.finish(id);
  end(id);
}

// Drafts for every decoding sequence that wants some this step.
void EngineCore::propose() {
  drafts_.clear();
  last_draft_seconds_ = 0;
  last_rounds_ = 0;
  std::vector<RequestId> ids;
  for (auto& [id, c] : choices_)
    if (scheduler_.contains(id) && scheduler_.is_decoding(id)) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::vector<DraftRequest> reqs;
  for (RequestId id : ids) {
    Choice& c = choices_.at(id);
    // A constrained choice drafts once its grammar applies (not before or inside its reasoning).
    if (c.params->constraint && c.phase != Choice::Phase::Grammar) continue;
    // No draft past the last token the choice may emit (a step emits drafts + 1).
    const int64_t left = c.params->max_tokens - int64_t(scheduler_.output(id).size()) - 1;
    const int k = int(std::min<int64_t>(draft_length_.choose(id), left));
    if (k <= 0) {
      if (draft_length_.off(id)) proposer_->release(id);  // not drafting again: free its state
      continue;
    }
    reqs.push_back({id, scheduler_.tokens(id), int64_t(scheduler_.prompt(id).size()), k, c.params.get(), &c.draft_rng});
  }
  if (reqs.empty()) return;
  std::vector<Draft> out;
  const auto t0 = clock::now();
  proposer_->propose(reqs, out);
  last_draft_seconds_ = seconds_since(t0);
  stats_.draft_seconds += last_draft_seconds_;
  for (size_t i = 0; i < reqs.size() && i < out.size(); ++i) {
    if (int(out[i].tokens.size()) > reqs[i].k) out[i].tokens.resize(size_t(reqs[i].k));
    // Structured output: only the drafted tokens the grammar allows can be kept; cut the rest.
    if (Choice& c = choices_.at(reqs[i].id); c.matcher && !out[i].tokens.empty()) {
      grammar::Matcher walk = *c.matcher;
      size_t keep = 0;
      while (keep < out[i].tokens.size() && walk.accept_token(out[i].tokens[keep]) && !walk.is_terminated()) ++keep;
      out[i].tokens.resize(keep);
      if (out[i].q.size() > keep) out[i].q.resize(keep);
    }
    if (out[i].tokens.empty()) continue;
    last_rounds_ = std::max(last_rounds_, int(out[i].tokens.size()));
    scheduler_.set_draft(reqs[i].id, out[i].tokens);
    drafts_[reqs[i].id] = std::move(out[i]);
  }
}

// --- prefix cache: what a request's first admission found ---
void EngineCore::note_first_admissions(const SchedulePlan& plan) {
  for (const ScheduledChunk& c : plan.chunks) {
    if (c.cached_prompt_tokens < 0) continue;
    auto g = groups_.find(c.id);  // choice 0's id is the request's id
    if (g == groups_.end()) continue;
    auto first = choices_.find(c.id);
    if (first == choices_.end() || first->second.first_admitted) continue;
    for (RequestId id : g->second) {
      auto it = choices_.find(id);
      if (it != choices_.end()) it->second.cached_tokens = c.cached_prompt_tokens, it->second.first_admitted = true;
    }
    const int64_t prompt = int64_t(scheduler_.prompt(c.id).size());
    stats_.prefix_hit_tokens += uint64_t(c.cached_prompt_tokens);
    stats_.prefix_miss_tokens += uint64_t(prompt - c.cached_prompt_tokens);
    ++(c.cached_prompt_tokens > 0 ? stats_.prefix_hit_requests : stats_.prefix_miss_requests);
  }
}

std::vector<CoreOutput> EngineCore::step() {
  std::vector<CoreOutput> outs;
  auto fail_choice = [&](RequestId id) {
    auto it = choices_.find(id);
    if (it == choices_.end()) return;
    scheduler_.finish(id);
    CoreOutput o;
    o.id = id;
    o.finish = FinishReason::Error;
    o.cached_tokens = it->second.cached_tokens;
    outs.push_back(std::move(o));
    end(id);
  };
  if (proposer_) propose();
  SchedulePlan plan = scheduler_.schedule();
  stats_.preemptions += plan.preempted.size();
  if (proposer_)
    for (RequestId id : plan.preempted) proposer_->release(id);
  if (plan.empty()) {
    // Nothing fits although nothing runs: cannot happen for requests validate() accepted (each
    // fits the cache alone); fail the head of the queue rather than spin.
    if (scheduler_.num_running() == 0)
      if (auto id = scheduler_.oldest_waiting()) fail_choice(*id);
    return outs;
  }
  note_first_admissions(plan);
  std::vector<SeqChunk> chunks;
  chunks.reserve(plan.chunks.size());
  int64_t decoding = 0, drafted = 0;
  for (auto& c : plan.chunks) {
    chunks.push_back({c.id, c.tokens,
                      c.num_draft > 0 ? LogitsWanted::All : c.samplers.empty() ? LogitsWanted::None : LogitsWanted::Last});
    if (c.begin >= int64_t(scheduler_.prompt(c.id).size())) ++decoding, drafted += c.num_draft;
  }
  const auto t0 = clock::now();
  try {
    model_.forward(chunks, kv_, logits_);
  } catch (const std::exception& e) {
    if (options_.log) options_.log(fmt::format("forward failed: {}", e.what()));
    for (auto& c : plan.chunks)
      for (RequestId id : c.samplers.empty() ? std::vector<RequestId>{c.id} : c.samplers) fail_choice(id);
    return outs;
  }
  const double forward_s = seconds_since(t0);
  stats_.forward_seconds += forward_s;
  ++stats_.forward_steps;
  if (drafted > 0) stats_.verify_forward_seconds += forward_s, ++stats_.verify_forward_steps;
  if (proposer_) draft_length_.observe_step(forward_s, decoding, drafted, last_draft_seconds_, last_rounds_);

  // Sampling jobs: (logits rows, choice). Each choice has its own Rng, so the jobs run in parallel
  // (each thread with its own scratch) and the result does not depend on the split.
  struct Job {
    size_t row, rows;
    RequestId id;
    Choice* choice;
    const Draft* draft;  // with rows - 1 tokens, or null
    TokenMask mask;      // the grammar's, or empty
    std::span<const TokenMask> masks;  // with a draft: one per row, or none
  };
  std::vector<Job> jobs;
  size_t row = 0;
  for (auto& c : plan.chunks) {
    if (c.samplers.empty()) continue;
    const size_t rows = c.num_draft > 0 ? size_t(c.count) : 1;
    const Draft* d = nullptr;
    if (c.num_draft > 0) {
      Draft& dr = drafts_.at(c.id);
      dr.tokens.resize(size_t(c.num_draft));  // the scheduler may have cut it
      if (!dr.q.empty()) dr.q.resize(size_t(c.num_draft));
      d = &dr;
    }
    for (RequestId id : c.samplers) jobs.push_back({row, rows, id, &choices_.at(id), d, {}, {}});
    row += rows;
  }
  // Grammar masks, on this thread (a grammar's masker and matchers are not thread-safe): one per
  // row, after the drafted tokens before it (propose() kept only drafts the grammar allows).
  if (masks_.size() < jobs.size()) masks_.resize(jobs.size()), mask_rows_.resize(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    Choice& c = *jobs[j].choice;
    if (!c.matcher) continue;
    grammar::TokenMasker& masker = *maskers_.at(c.params->constraint->grammar.get()).masker;
    const size_t words = options_.vocabulary->mask_words(), rows = jobs[j].rows;
    std::vector<uint32_t>& m = masks_[j];
    m.assign(words * rows + 1, 0);  // + 1: room for reasoning_open past the vocabulary's words
    std::optional<grammar::Matcher> walk;
    if (rows > 1) walk.emplace(*c.matcher);
    for (size_t i = 0; i < rows; ++i) {
      uint32_t* mi = m.data() + i * words;
      if (i == 0 || (walk && walk->accept_token(jobs[j].draft->tokens[i - 1])))
        masker.fill_mask(i == 0 ? *c.matcher : *walk, mi);
      else
        std::copy(mi - words, mi, mi), walk.reset();  // never reached: verification stops before
    }
    // Before the first token, reasoning may open instead (no drafts then: propose()).
    if (const int32_t open = c.params->constraint->reasoning_open; c.phase == Choice::Phase::Start && open >= 0) {
      if (size_t(open >> 5) >= words) fail("structured output: reasoning_open {} is outside the vocabulary", open);
      m[size_t(open >> 5)] |= 1u << (open & 31);
    }
    if (std::all_of(m.begin(), m.begin() + std::ptrdiff_t(words), [](uint32_t w) { return w == 0; })) {
      if (options_.log) options_.log(fmt::format("choice {}: the grammar allows no token here", jobs[j].id));
      fail_choice(jobs[j].id);
      jobs.erase(jobs.begin() + std::ptrdiff_t(j));
      masks_.erase(masks_.begin() + std::ptrdiff_t(j)), mask_rows_.erase(mask_rows_.begin() + std::ptrdiff_t(j));
      --j;
      continue;
    }
    std::vector<TokenMask>& spans = mask_rows_[j];
    spans.clear();
    for (size_t i = 0; i < rows; ++i) spans.push_back(TokenMask(m.data() + i * words, words));
    jobs[j].mask = spans[0];
    jobs[j].masks = spans;
  }
  std::vector<std::vector<SampleResult>> results(jobs.size());
  const int threads = int(std::min<size_t>(size_t(num_threads()), jobs.size()));
  if (scratch_.size() < size_t(std::max(threads, 1))) scratch_.resize(size_t(std::max(threads, 1)));
  struct Ctx {
    EngineCore* self;
    const std::vector<Job>* jobs;
    std::vector<std::vector<SampleResult>>* results;
    int threads;
  } ctx{this, &jobs, &results, threads};
  auto job = [](void* p, int t) {
    auto& c = *static_cast<Ctx*>(p);
    VerifyScratch& s = c.self->scratch_[size_t(t)];
    for (size_t j = size_t(t); j < c.jobs->size(); j += size_t(c.threads)) {
      const Job& b = (*c.jobs)[j];
      const Scheduler& sch = c.self->scheduler_;
      if (b.draft) {
        std::vector<std::span<const float>> rows;
        for (size_t i = 0; i < b.rows; ++i) rows.push_back(c.self->logits_.row(b.row + i));
        (*c.results)[j] = verify_draft(rows, *b.draft, *b.choice->params, sch.prompt(b.id), sch.output(b.id),
                                       b.choice->rng, s, b.masks);
      } else {
        (*c.results)[j] = {sample(c.self->logits_.row(b.row), *b.choice->params, sch.prompt(b.id), sch.output(b.id),
                                  b.choice->rng, s.sampler, b.mask)};
      }
    }
  };
  if (threads > 1) run_on_threads(threads, job, &ctx);
  else if (threads == 1) job(&ctx, 0);

  std::vector<Sampled> sampled;
  std::vector<std::pair<size_t, size_t>> where;  // (job, index in its results) of each sampled token
  for (size_t j = 0; j < jobs.size(); ++j) {
    for (size_t i = 0; i < results[j].size(); ++i) sampled.push_back({jobs[j].id, results[j][i].token}), where.push_back({j, i});
    if (jobs[j].draft) {
      const int n = int(jobs[j].draft->tokens.size());
      const int accepted = std::min<int>(n, int(results[j].size()) - 1);
      draft_length_.observe(jobs[j].id, n, accepted);
      ++stats_.spec_verify_steps;
      stats_.spec_drafted += uint64_t(n);
      stats_.spec_accepted += uint64_t(accepted);
    }
  }
  const std::vector<RequestUpdate> updates = scheduler_.update_from_output(plan, sampled);
  // updates follow `sampled`, skipping the tokens of a choice after its last.
  for (size_t i = 0, j = 0; i < updates.size(); ++i) {
    while (j < sampled.size() && sampled[j].id != updates[i].id) ++j;
    const RequestUpdate& u = updates[i];
    if (outs.empty() || outs.back().id != u.id || outs.back().finish) {
      CoreOutput o;
      o.id = u.id;
      o.cached_tokens = choices_.at(u.id).cached_tokens;
      outs.push_back(std::move(o));
    }
    CoreOutput& o = outs.back();
    TokenInfo ti{u.token, 0, {}};
    if (j < sampled.size()) {
      SampleResult& s = results[where[j].first][where[j].second];
      ti.logprob = s.logprob;
      ti.top = std::move(s.top);
      if (jobs[where[j].first].draft) ++stats_.spec_emitted;
      ++j;
    }
    o.tokens.push_back(std::move(ti));
    if (Choice& c = choices_.at(u.id); c.params->constraint) follow_constraint(u.id, c, u.token);
    if (u.finished) {
      o.finish = u.finished;
      o.stop_token = u.stop_token;
    }
  }
  for (const CoreOutput& o : outs)
    if (o.finish) end(o.id);
  ++stats_.steps;
  return outs;
}

// Moves a constrained choice over a token it emitted (the mask allowed it): into its reasoning,
// out of it (the grammar starts), or along the grammar.
void EngineCore::follow_constraint(RequestId id, Choice& c, int32_t token) {
  const Constraint& k = *c.params->constraint;
  switch (c.phase) {
    case Choice::Phase::Start:
      c.phase = Choice::Phase::Grammar;
      if (token == k.reasoning_open) {
        c.phase = Choice::Phase::Reasoning;
        c.matcher.reset();
        return;
      }
      break;
    case Choice::Phase::Reasoning:
      if (token == k.reasoning_close) {
        c.phase = Choice::Phase::Grammar;
        c.matcher.emplace(k.grammar, options_.vocabulary);
      }
      return;
    case Choice::Phase::Grammar: break;
  }
  if (!c.matcher->accept_token(token) && options_.log)
    options_.log(fmt::format("choice {}: token {} does not follow the grammar", id, token));
}

}  // namespace qwen3::engine
