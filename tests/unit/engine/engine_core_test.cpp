// The token-only engine core on tiny random checkpoints (no tokenizer: these tests never skip).
// Speculative decoding is lossless: for every proposer (n-gram, a draft model, the target itself
// quantized to q8 / q4) and draft length, greedy outputs, logprobs and finish reasons are
// bit-identical to decoding without speculation, with preemptions, stop ids and max_tokens falling
// inside a draft, and n > 1; seeded sampling with point guesses (n-gram) is bit-identical too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "engine/engine_core.h"
#include "engine/spec/draft_proposer.h"
#include "engine/spec/ngram_proposer.h"
#include "testing/test_model.h"

namespace qwen3::engine {
namespace {

namespace fs = std::filesystem;

struct Models {
  fs::path target_dir, draft_dir;
  std::unique_ptr<Qwen3Model> target;
};

Models& models() {
  static Models m = [] {
    Models m;
    const fs::path root = fs::temp_directory_path() / ("qwen3_core_test_" + std::to_string(::getpid()));
    m.target_dir = root / "target";
    m.draft_dir = root / "draft";
    for (auto [dir, seed] : {std::pair{m.target_dir, 3}, std::pair{m.draft_dir, 4}}) {
      TestModelOptions o;
      o.preset = "tiny";
      o.seed = uint64_t(seed);
      o.out = dir;
      make_test_model(o);  // without the npm tokenizer too: the core needs none
    }
    m.target = Qwen3Model::load(m.target_dir);
    std::atexit([] { fs::remove_all(fs::temp_directory_path() / ("qwen3_core_test_" + std::to_string(::getpid()))); });
    return m;
  }();
  return m;
}

enum class Prop { None, Ngram, Draft, SelfQ8, SelfQ4 };
const char* name(Prop p) {
  switch (p) {
    case Prop::None: return "none";
    case Prop::Ngram: return "ngram";
    case Prop::Draft: return "draft";
    case Prop::SelfQ8: return "self-q8";
    case Prop::SelfQ4: return "self-q4";
  }
  return "?";
}

std::unique_ptr<Proposer> make(Prop p, int64_t pages = 256) {
  const Models& m = models();
  auto draft = [&](const fs::path& dir, Quant q, const char* nm) -> std::unique_ptr<Proposer> {
    LoadOptions lo;
    lo.quant = q;
    return std::make_unique<DraftModelProposer>(
        Qwen3Model::load(dir, lo),
        DraftModelOptions{.name = nm, .num_pages = pages, .target_vocab = m.target->config().vocab_size});
  };
  switch (p) {
    case Prop::None: return nullptr;
    case Prop::Ngram: return std::make_unique<NgramProposer>();
    case Prop::Draft: return draft(m.draft_dir, Quant::None, "draft");
    case Prop::SelfQ8: return draft(m.target_dir, Quant::Q8, "self-q8");
    case Prop::SelfQ4: return draft(m.target_dir, Quant::Q4, "self-q4");
  }
  return nullptr;
}

struct Out {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<TokenLogprob>> top;
  std::optional<FinishReason> finish;
  bool operator==(const Out& o) const {
    if (tokens != o.tokens || logprobs != o.logprobs || finish != o.finish || top.size() != o.top.size()) return false;
    for (size_t i = 0; i < top.size(); ++i) {
      if (top[i].size() != o.top[i].size()) return false;
      for (size_t j = 0; j < top[i].size(); ++j)
        if (top[i][j].token != o.top[i][j].token || top[i][j].logprob != o.top[i][j].logprob) return false;
    }
    return true;
  }
};

struct Req {
  std::vector<int32_t> prompt;
  SamplingParams params;
};

// Prompts with repetition in them (so n-gram lookup has something to find) and without.
std::vector<int32_t> prompt(int k) {
  std::vector<int32_t> p;
  for (int i = 0; i < 6 + 5 * k; ++i) p.push_back(1000 + (k % 2 ? i % 7 : i * 13 + k) * 31);
  return p;
}

SamplingParams greedy(int max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  return p;
}

struct RunStats {
  CoreStats stats;
  size_t draft_sequences_left = 0;
};

std::map<RequestId, Out> run(const std::vector<Req>& reqs, Prop prop, CoreOptions o, RunStats* rs = nullptr,
                             int64_t draft_pages = 256) {
  EngineCore core(*models().target, o, make(prop, draft_pages));
  RequestId id = 1;
  for (const Req& r : reqs) {
    core.add(id, r.prompt, std::make_shared<const SamplingParams>(r.params));
    id += r.params.n;
  }
  std::map<RequestId, Out> out;
  for (int steps = 0; core.has_work(); ++steps) {
    EXPECT_LT(steps, 100000);
    for (const CoreOutput& c : core.step()) {
      Out& o = out[c.id];
      EXPECT_FALSE(o.finish) << "output after the end";
      for (const TokenInfo& t : c.tokens) o.tokens.push_back(t.token), o.logprobs.push_back(t.logprob), o.top.push_back(t.top);
      if (c.finish) o.finish = c.finish;
    }
  }
  core.kv().check_invariants();
  if (rs) {
    rs->stats = core.stats();
    if (auto* d = dynamic_cast<const DraftModelProposer*>(core.proposer())) rs->draft_sequences_left = d->kv().sequences().size();
  }
  return out;
}

CoreOptions options(int64_t pages, int max_k, bool adaptive = false) {
  CoreOptions o;
  o.max_batch = 4;
  o.max_batch_tokens = 64;
  o.kv_pages = pages;
  o.page_size = 16;
  o.eos_token_ids = {};
  o.spec = {.max_k = max_k, .adaptive = adaptive, .probe_every = 16};
  return o;
}

std::vector<Req> workload() {
  std::vector<Req> reqs;
  for (int k = 0; k < 5; ++k) reqs.push_back({prompt(k), greedy(20 + 7 * k)});
  reqs[1].params.max_tokens = 7;   // ends inside a draft for k >= 3
  reqs[2].params.logprobs = true;
  reqs[2].params.top_logprobs = 3;
  reqs[3].params.n = 2;
  return reqs;
}

TEST(EngineCoreSpec, GreedyIsBitIdenticalForEveryProposer) {
  const std::vector<Req> reqs = workload();
  // 6 pages of 16: preemptions. The sanitizer build (QWEN3_SANITIZED, scripts/test.sh: 7x slower)
  // runs only that one; it takes every path the roomy cache takes.
  std::vector<int64_t> page_counts = {64, 6};
  if (std::getenv("QWEN3_SANITIZED")) page_counts = {6};
  for (int64_t pages : page_counts) {
    RunStats base_stats;
    const auto expect = run(reqs, Prop::None, options(pages, 1), &base_stats);
    ASSERT_EQ(expect.size(), 6u);
    for (auto& [id, o] : expect) EXPECT_EQ(o.finish, FinishReason::Length) << id;
    if (pages == 6) EXPECT_GT(base_stats.stats.preemptions, 0u);
    for (Prop p : {Prop::Ngram, Prop::Draft, Prop::SelfQ8, Prop::SelfQ4})
      for (int k : {2, 5}) {
        SCOPED_TRACE(testing::Message() << name(p) << " k=" << k << " pages=" << pages);
        RunStats rs;
        const auto got = run(reqs, p, options(pages, k), &rs);
        EXPECT_EQ(got.size(), expect.size());
        for (auto& [id, o] : expect) EXPECT_TRUE(got.count(id) && got.at(id) == o) << "choice " << id;
        EXPECT_GT(rs.stats.spec_drafted, 0u);
        EXPECT_EQ(rs.draft_sequences_left, 0u) << "the draft's pages are freed with the target's";
        if (p == Prop::SelfQ8) EXPECT_GT(rs.stats.spec_accepted, rs.stats.spec_drafted / 2) << "q8 of the target mostly agrees";
      }
  }
}

TEST(EngineCoreSpec, StopIdsInsideADraftEndTheOutputThere) {
  // A stop id taken from the middle of the plain output: speculation ends at the same token.
  std::vector<Req> reqs = {{prompt(1), greedy(40)}, {prompt(3), greedy(40)}};
  const auto plain = run(reqs, Prop::None, options(64, 1));
  for (size_t i = 0; i < reqs.size(); ++i) reqs[i].params.stop_token_ids = {plain.at(RequestId(1 + i)).tokens.at(9)};
  const auto expect = run(reqs, Prop::None, options(64, 1));
  for (auto& [id, o] : expect) EXPECT_EQ(o.finish, FinishReason::Stop);
  for (Prop p : {Prop::Ngram, Prop::SelfQ8})
    for (int k : {2, 5}) {
      SCOPED_TRACE(testing::Message() << name(p) << " k=" << k);
      const auto got = run(reqs, p, options(64, k));
      for (auto& [id, o] : expect) EXPECT_TRUE(got.at(id) == o) << "choice " << id;
    }
}

TEST(EngineCoreSpec, SeededSamplingWithPointGuessesIsBitIdentical) {
  std::vector<Req> reqs;
  for (int k = 0; k < 3; ++k) {
    SamplingParams p;
    p.temperature = 0.8;
    p.top_k = 5;
    p.repetition_penalty = 1.1;
    p.seed = 42 + k;
    p.max_tokens = 30;
    p.n = k == 2 ? 2 : 1;
    reqs.push_back({prompt(k), p});
  }
  const auto expect = run(reqs, Prop::None, options(64, 1));
  for (int k : {1, 4}) {
    const auto got = run(reqs, Prop::Ngram, options(64, k));
    for (auto& [id, o] : expect) EXPECT_TRUE(got.at(id) == o) << "choice " << id << " k=" << k;
  }
}

TEST(EngineCoreSpec, SampledDraftsRunAndStayInTheVocabulary) {
  // Rejection sampling's distribution is tested in spec_verify_test.cpp; here: it runs end to end.
  SamplingParams p;
  p.temperature = 1.0;
  p.top_p = 0.9;
  p.seed = 7;
  p.max_tokens = 24;
  RunStats rs;
  const auto got = run({{prompt(1), p}, {prompt(2), p}}, Prop::SelfQ8, options(64, 4), &rs);
  for (auto& [id, o] : got) {
    EXPECT_EQ(o.tokens.size(), 24u);
    for (int32_t t : o.tokens) EXPECT_TRUE(t >= 0 && t < models().target->config().vocab_size);
  }
  EXPECT_GT(rs.stats.spec_accepted, 0u);
}

// A proposer that is always wrong: adaptive drafting must back off to occasional probes.
class WrongProposer : public Proposer {
 public:
  std::string name() const override { return "wrong"; }
  void propose(std::span<const DraftRequest> reqs, std::vector<Draft>& out) override {
    out.assign(reqs.size(), {});
    for (size_t i = 0; i < reqs.size(); ++i)
      for (int j = 0; j < reqs[i].k; ++j) out[i].tokens.push_back(7);  // a token the model never picks here
  }
};

TEST(EngineCoreSpec, AdaptiveLengthBacksOffWhenNothingIsAccepted) {
  const std::vector<Req> reqs = {{prompt(0), greedy(200)}};
  const auto expect = run(reqs, Prop::None, options(64, 1));
  ASSERT_EQ(std::count(expect.at(1).tokens.begin(), expect.at(1).tokens.end(), 7), 0);
  EngineCore core(*models().target, options(64, 6, /*adaptive=*/true), std::make_unique<WrongProposer>());
  core.add(1, reqs[0].prompt, std::make_shared<const SamplingParams>(reqs[0].params));
  std::vector<int32_t> got;
  while (core.has_work())
    for (const CoreOutput& c : core.step())
      for (auto& t : c.tokens) got.push_back(t.token);
  EXPECT_EQ(got, expect.at(1).tokens);
  // 200 decode steps: a few drafts at the start, then one probe every 16 steps.
  EXPECT_LT(core.stats().spec_drafted, 40u) << "drafted " << core.stats().spec_drafted;
  EXPECT_EQ(core.stats().spec_accepted, 0u);
}

TEST(EngineCoreSpec, AFullDraftCacheOnlyCostsSpeed) {
  // The draft's cache holds 2 pages: most sequences cannot draft; outputs do not change.
  const std::vector<Req> reqs = workload();
  const auto expect = run(reqs, Prop::None, options(64, 1));
  const auto got = run(reqs, Prop::SelfQ8, options(64, 4), nullptr, /*draft_pages=*/2);
  for (auto& [id, o] : expect) EXPECT_TRUE(got.at(id) == o) << "choice " << id;
}

TEST(EngineCore, AbortFreesEverything) {
  EngineCore core(*models().target, options(64, 3), make(Prop::SelfQ8));
  core.add(1, prompt(1), std::make_shared<const SamplingParams>(greedy(50)));
  core.add(2, prompt(2), std::make_shared<const SamplingParams>(greedy(50)));
  for (int i = 0; i < 5; ++i) core.step();
  core.abort(1);
  core.abort(2);
  EXPECT_FALSE(core.has_work());
  EXPECT_EQ(core.kv().sequences().size(), 0u);
  auto* d = dynamic_cast<const DraftModelProposer*>(core.proposer());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->kv().sequences().size(), 0u);
  core.kv().check_invariants();
}

TEST(EngineCore, ValidatesAtSubmission) {
  EngineCore core(*models().target, options(64, 1));
  EXPECT_THROW(core.validate({}, greedy(1)), Error);
  const std::vector<int32_t> bad = {int32_t(models().target->config().vocab_size)};
  EXPECT_THROW(core.validate(bad, greedy(1)), Error);
  EXPECT_THROW(core.validate(prompt(0), greedy(0)), Error);
  EXPECT_THROW(core.validate(prompt(0), greedy(int(core.max_context()))), Error);
  SamplingParams p = greedy(1);
  p.top_p = 0;
  EXPECT_THROW(core.validate(prompt(0), p), Error);
  EXPECT_THROW(core.add(1, {}, std::make_shared<const SamplingParams>(greedy(1))), Error);
  EXPECT_FALSE(core.has_work());
}

}  // namespace
}  // namespace qwen3::engine
