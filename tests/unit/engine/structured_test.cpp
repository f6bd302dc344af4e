// Structured output in the engine core: a grammar constraint masks the sampler so that every
// generated text is a sentence of the grammar (or a viable prefix of one when max_tokens cuts it),
// whatever the random model would say; batch mates, n > 1 and preemption change nothing; the
// constraint can start after a token (</think>); logprobs are taken after masking.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "engine/engine_core.h"
#include "engine/spec/ngram_proposer.h"
#include "engine/spec/verify.h"
#include "grammar/grammar.h"
#include "grammar/token_mask.h"
#include "testing/test_model.h"

namespace qwen3::engine {
namespace {

namespace fs = std::filesystem;
constexpr int32_t kEnd = 151645, kEnd2 = 151643, kFirstSpecial = 151643;

Qwen3Model& model() {
  static std::unique_ptr<Qwen3Model> m = [] {
    const fs::path dir = fs::temp_directory_path() / ("qwen3_structured_test_" + std::to_string(::getpid()));
    TestModelOptions o;
    o.preset = "tiny";
    o.seed = 11;
    o.out = dir;
    make_test_model(o);
    auto model = Qwen3Model::load(dir);
    fs::remove_all(dir);
    return model;
  }();
  return *m;
}

// A vocabulary of the model's size: ids 0..255 are single bytes, the others short strings over a
// JSON-ish alphabet (so many tokens span several grammar symbols), ids from 151,643 special.
std::shared_ptr<const grammar::TokenVocabulary> vocabulary() {
  static std::shared_ptr<const grammar::TokenVocabulary> v = [] {
    const int32_t n = int32_t(model().config().vocab_size);
    std::vector<std::string> bytes(size_t(n), "");
    const std::string alphabet = "{}\":,0123456789abcxyz ";
    std::mt19937 rng(5);
    for (int32_t id = 0; id < n; ++id) {
      if (id < 256) bytes[size_t(id)] = std::string(1, char(id));
      else if (id < kFirstSpecial)
        for (int k = 0, len = 2 + int(rng() % 3); k < len; ++k) bytes[size_t(id)] += alphabet[rng() % alphabet.size()];
    }
    std::vector<int32_t> special;
    for (int32_t id = kFirstSpecial; id < n; ++id) special.push_back(id);
    const std::vector<int32_t> ends{kEnd, kEnd2};
    return std::make_shared<const grammar::TokenVocabulary>(std::move(bytes), special, ends);
  }();
  return v;
}

const char* kGrammar = R"(root ::= "{\"n\":" [0-9]{1,6} ",\"s\":\"" [a-c]* "\"}")";

constexpr int32_t kOpen = 7000, kClose = 7001;  // <think> and </think> of this vocabulary

std::shared_ptr<const Constraint> constraint(bool reasoning = false, bool in_reasoning = false) {
  static auto g = grammar::compile_grammar(kGrammar);
  Constraint c{.grammar = g};
  if (reasoning) c.reasoning_open = kOpen, c.reasoning_close = kClose, c.in_reasoning = in_reasoning;
  return std::make_shared<const Constraint>(c);
}

CoreOptions options(int64_t pages = 512) {
  CoreOptions o;
  o.kv_pages = pages;
  o.page_size = 16;
  o.kv_dtype = KvDType::F32;
  o.eos_token_ids = {kEnd, kEnd2};
  o.vocabulary = vocabulary();
  return o;
}

std::vector<int32_t> prompt(int k) {
  std::vector<int32_t> p;
  for (int i = 0; i < 5 + 3 * k; ++i) p.push_back(300 + (i * 37 + k * 101) % 5000);
  return p;
}

struct Out {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<TokenLogprob>> top;
  std::optional<FinishReason> finish;
};

std::map<RequestId, Out> run(EngineCore& core, const std::vector<std::pair<std::vector<int32_t>, SamplingParams>>& reqs) {
  RequestId id = 1;
  for (auto& [p, sp] : reqs) {
    core.add(id, p, std::make_shared<const SamplingParams>(sp));
    id += sp.n;
  }
  std::map<RequestId, Out> out;
  for (int steps = 0; core.has_work(); ++steps) {
    EXPECT_LT(steps, 100000);
    for (const CoreOutput& c : core.step()) {
      Out& o = out[c.id];
      for (const TokenInfo& t : c.tokens) o.tokens.push_back(t.token), o.logprobs.push_back(t.logprob), o.top.push_back(t.top);
      if (c.finish) o.finish = c.finish;
    }
  }
  core.kv().check_invariants();
  return out;
}

// The tokens (from `from` on) spell a sentence of the grammar and end with an end id (Stop), or a
// viable prefix cut by max_tokens (Length).
void expect_follows(const Out& o, size_t from = 0) {
  ASSERT_TRUE(o.finish);
  grammar::Matcher m(constraint()->grammar);
  std::string text;
  for (size_t i = from; i < o.tokens.size(); ++i) {
    const int32_t t = o.tokens[i];
    if (t == kEnd || t == kEnd2) {
      EXPECT_EQ(i + 1, o.tokens.size()) << "an end id before the last token";
      EXPECT_TRUE(m.can_end()) << "ended early: " << text;
      EXPECT_EQ(*o.finish, FinishReason::Stop);
      return;
    }
    const std::string_view b = vocabulary()->bytes(t);
    ASSERT_TRUE(m.accept_bytes(b)) << "token " << t << " '" << b << "' after '" << text << "'";
    text += b;
  }
  EXPECT_EQ(*o.finish, FinishReason::Length) << text;
}

TEST(Structured, SampledOutputsFollowTheGrammar) {
  EngineCore core(model(), options());
  std::vector<std::pair<std::vector<int32_t>, SamplingParams>> reqs;
  for (int k = 0; k < 6; ++k) {
    SamplingParams sp;
    sp.temperature = 1.0;
    sp.seed = uint64_t(k);
    sp.max_tokens = 60;
    sp.n = k == 0 ? 3 : 1;
    sp.top_k = k == 1 ? 5 : 0;
    sp.top_p = k == 2 ? 0.9 : 1.0;
    sp.presence_penalty = k == 3 ? 1.5 : 0.0;
    sp.constraint = constraint();
    reqs.push_back({prompt(k), sp});
  }
  // An unconstrained batch mate: the mask is per choice.
  SamplingParams free;
  free.temperature = 1.0, free.seed = 99, free.max_tokens = 20;
  reqs.push_back({prompt(7), free});
  auto out = run(core, reqs);
  int stopped = 0;
  for (RequestId id = 1; id <= 8; ++id) {
    SCOPED_TRACE(id);
    expect_follows(out.at(id));
    stopped += *out.at(id).finish == FinishReason::Stop;
  }
  EXPECT_GE(stopped, 1) << "some choices complete the grammar within 60 tokens";
  // The free request is not masked: with this vocabulary it leaves the grammar's alphabet.
  bool outside = false;
  for (int32_t t : out.at(9).tokens) outside = outside || t >= 256;
  EXPECT_TRUE(outside);
}

TEST(Structured, GreedyIsBatchInvariantAndSurvivesPreemption) {
  SamplingParams sp;
  sp.temperature = 0;
  sp.max_tokens = 40;
  sp.constraint = constraint();
  std::map<RequestId, Out> alone;
  {
    EngineCore core(model(), options());
    alone = run(core, {{prompt(1), sp}});
  }
  expect_follows(alone.at(1));
  // With batch mates, and with so few pages that the scheduler preempts and recomputes.
  for (int64_t pages : {512, 10}) {
    SCOPED_TRACE(pages);
    EngineCore core(model(), options(pages));
    std::vector<std::pair<std::vector<int32_t>, SamplingParams>> reqs{{prompt(1), sp}};
    for (int k = 2; k < 6; ++k) {
      SamplingParams other = sp;
      if (k % 2) other.constraint = nullptr, other.max_tokens = 90;  // long: they outgrow the pages
      reqs.push_back({prompt(k), other});
    }
    auto out = run(core, reqs);
    EXPECT_EQ(out.at(1).tokens, alone.at(1).tokens);
    EXPECT_EQ(out.at(1).logprobs, alone.at(1).logprobs);
    if (pages == 10) EXPECT_GT(core.stats().preemptions, 0u);
    for (RequestId id = 2; id <= 5; ++id)
      if (reqs[size_t(id - 1)].second.constraint) expect_follows(out.at(id));
  }
}

TEST(Structured, ReasoningStaysFree) {
  // logit_bias makes the model open its reasoning, then stay in it (a token the grammar never
  // allows) for a while, then close it; from there on the grammar applies (the biases no longer
  // win against the mask).
  const std::vector<int32_t> open_first = {kOpen};
  for (bool in_prompt : {false, true}) {
    SCOPED_TRACE(in_prompt);
    SamplingParams sp;
    sp.temperature = 0;
    sp.max_tokens = 40;
    // <think> (100), then 5000 (80 against <think>'s 100 - 50 and </think>'s 60), then </think>
    // (60 against 80 - 50), then the grammar.
    sp.logit_bias = {{kOpen, in_prompt ? -100.0f : 100.0f}, {5000, 80.0f}, {kClose, 60.0f}};
    sp.presence_penalty = 50.0;
    sp.constraint = constraint(true, in_prompt);
    EngineCore core(model(), options());
    auto out = run(core, {{prompt(2), sp}});
    const Out& o = out.at(1);
    size_t close = 0;
    while (close < o.tokens.size() && o.tokens[close] != kClose) ++close;
    ASSERT_LT(close, o.tokens.size()) << "reasoning closed";
    if (!in_prompt) EXPECT_EQ(o.tokens[0], kOpen);
    EXPECT_NE(std::find(o.tokens.begin(), o.tokens.begin() + std::ptrdiff_t(close), 5000),
              o.tokens.begin() + std::ptrdiff_t(close)) << "an unmasked token inside the reasoning";
    expect_follows(o, close + 1);
  }
  // Without reasoning opened, the first token already follows the grammar (and <think> is not
  // allowed later).
  SamplingParams sp;
  sp.temperature = 0, sp.max_tokens = 30, sp.constraint = constraint(true);
  sp.logit_bias = {{kOpen, -100.0f}};
  EngineCore core(model(), options());
  auto out = run(core, {{prompt(3), sp}});
  expect_follows(out.at(1));
}

TEST(Structured, LogprobsAreTakenAfterMasking) {
  // After `{"n":1` the grammar allows digits, ',' and tokens that start with them: under the
  // mask the allowed tokens' probabilities sum to 1, and top_logprobs lists allowed tokens only.
  SamplingParams sp;
  sp.temperature = 1.0;
  sp.seed = 3;
  sp.max_tokens = 12;
  sp.logprobs = true;
  sp.top_logprobs = 20;
  sp.constraint = constraint();
  EngineCore core(model(), options());
  auto out = run(core, {{prompt(3), sp}});
  const Out& o = out.at(1);
  grammar::Matcher m(constraint()->grammar, vocabulary());
  for (size_t i = 0; i < o.tokens.size(); ++i) {
    ASSERT_FALSE(o.top[i].empty());
    for (const TokenLogprob& t : o.top[i]) {
      grammar::Matcher copy = m;
      EXPECT_TRUE(copy.accept_token(t.token)) << "step " << i << ": top_logprobs lists token " << t.token;
      EXPECT_TRUE(std::isfinite(t.logprob));
    }
    EXPECT_LE(o.logprobs[i], 0.0f);
    EXPECT_GE(o.logprobs[i], o.top[i].back().logprob - 1e-6f);
    ASSERT_TRUE(m.accept_token(o.tokens[i]) || o.tokens[i] == kEnd || o.tokens[i] == kEnd2);
  }
  // The first step allows only tokens starting with '{' and spelling a prefix of {"n":DIGITS...:
  // few enough for the top 20 to hold almost all of the mass after masking.
  double mass = 0;
  for (const TokenLogprob& t : o.top[0]) mass += std::exp(double(t.logprob));
  EXPECT_LE(mass, 1.0 + 1e-5);
  EXPECT_GT(mass, 0.0);
}

TEST(Structured, BadRequestsAreRefused) {
  EngineCore core(model(), options());
  SamplingParams sp;
  sp.constraint = constraint();
  sp.ignore_eos = true;
  EXPECT_THROW(core.validate(prompt(0), sp), Error);
  CoreOptions no_vocab = options();
  no_vocab.vocabulary = nullptr;
  EngineCore bare(model(), no_vocab);
  sp.ignore_eos = false;
  EXPECT_THROW(bare.validate(prompt(0), sp), Error);
  EXPECT_NO_THROW(core.validate(prompt(0), sp));
}

TEST(Structured, SpeculationLeavesConstrainedChoicesUnchanged) {
  // With an n-gram proposer, constrained choices draft too (drafts cut to what the grammar allows,
  // verified under the grammar's mask at each position) and give, greedy, exactly what they give
  // without speculation; so does an unconstrained batch mate.
  std::vector<std::pair<std::vector<int32_t>, SamplingParams>> reqs;
  SamplingParams c;
  c.temperature = 0, c.max_tokens = 30, c.constraint = constraint();
  SamplingParams f;
  f.temperature = 0, f.max_tokens = 30;
  std::vector<int32_t> loop;  // a repetitive prompt: n-gram lookup finds drafts
  for (int i = 0; i < 40; ++i) loop.push_back(500 + i % 4);
  reqs.push_back({prompt(4), c});
  reqs.push_back({loop, f});
  EngineCore plain(model(), options());
  auto a = run(plain, reqs);
  CoreOptions o = options();
  o.spec.max_k = 3;
  o.spec.adaptive = false;
  EngineCore spec(model(), o, std::make_unique<NgramProposer>());
  auto b = run(spec, reqs);
  EXPECT_EQ(a.at(1).tokens, b.at(1).tokens);
  EXPECT_EQ(a.at(2).tokens, b.at(2).tokens);
  expect_follows(b.at(1));
  EXPECT_GT(spec.stats().spec_drafted, 0u) << "the free request drafted";
}

TEST(Structured, NgramDraftsUnderAGrammarAreVerifiedExactly) {
  // A grammar over a few letters and a prompt that repeats them: the n-gram proposer finds drafts
  // for the constrained choice; greedy output equals decoding without speculation, bit for bit.
  static auto g = grammar::compile_grammar(R"(root ::= [abc]{1,60} ".")");
  SamplingParams sp;
  sp.temperature = 0, sp.max_tokens = 50;
  sp.constraint = std::make_shared<const Constraint>(Constraint{.grammar = g});
  std::vector<int32_t> loop;
  for (int i = 0; i < 60; ++i) loop.push_back(97 + i % 3);
  EngineCore plain(model(), options());
  auto a = run(plain, {{loop, sp}});
  CoreOptions o = options();
  o.spec.max_k = 4;
  o.spec.adaptive = false;
  EngineCore spec(model(), o, std::make_unique<NgramProposer>());
  auto b = run(spec, {{loop, sp}});
  EXPECT_EQ(a.at(1).tokens, b.at(1).tokens);
  EXPECT_EQ(a.at(1).logprobs, b.at(1).logprobs);
  EXPECT_GT(spec.stats().spec_drafted, 0u) << "the constrained choice drafted";
  grammar::Matcher m(g, vocabulary());
  for (int32_t t : b.at(1).tokens) EXPECT_TRUE(m.accept_token(t)) << t;
}

TEST(Structured, RejectionSamplingNeverKeepsAForbiddenDraft) {
  // verify_draft with a draft distribution q (a draft model sampling): a drafted token the mask
  // forbids is rejected and the token drawn instead is one the mask allows; an allowed draft that
  // q and p agree on is kept.
  const int V = 64;
  std::vector<float> row0(V, 0.0f), row1(V, 0.0f);
  row0[5] = 3.0f, row0[9] = 2.0f, row1[7] = 1.0f;
  std::vector<uint32_t> allow(2, 0);
  allow[0] = (1u << 9) | (1u << 11);  // ids 9 and 11 only (not 5, the model's favourite)
  std::vector<uint32_t> any(2, ~0u);
  const std::vector<TokenMask> masks{TokenMask(allow), TokenMask(any)};
  SamplingParams p;
  p.temperature = 1.0;
  VerifyScratch s;
  const std::vector<std::span<const float>> rows{row0, row1};
  for (int32_t drafted : {5, 9}) {
    Draft d;
    d.tokens = {drafted};
    d.q.assign(1, std::vector<float>(V, 0.0f));
    d.q[0][size_t(drafted)] = 1.0f;  // q is sure of its draft
    int kept = 0;
    for (uint64_t seed = 0; seed < 300; ++seed) {
      Rng rng(seed);
      auto out = verify_draft(rows, d, p, {}, {}, rng, s, masks);
      ASSERT_FALSE(out.empty());
      EXPECT_TRUE(out[0].token == 9 || out[0].token == 11) << "seed " << seed << ": " << out[0].token;
      kept += out[0].token == drafted && out.size() == 2;
    }
    if (drafted == 5) EXPECT_EQ(kept, 0);
    else EXPECT_GT(kept, 200) << "p(9) under the mask is e^2 / (e^2 + 1) = 0.88";
  }
}

TEST(Structured, MaskersAreSharedAndFreed) {
  // Choices of one grammar share a masker, freed with the last of them: many requests in a row
  // on one core all follow the grammar (ids are reused once their requests end).
  EngineCore core(model(), options());
  for (int round = 0; round < 3; ++round) {
    SamplingParams sp;
    sp.temperature = 1.0, sp.seed = uint64_t(round), sp.max_tokens = 8, sp.n = 2;
    sp.constraint = constraint();
    auto out = run(core, {{prompt(round), sp}});
    expect_follows(out.at(1));
    expect_follows(out.at(2));
  }
}

}  // namespace
}  // namespace qwen3::engine
