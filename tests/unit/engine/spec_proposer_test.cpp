// The speculative proposers: prompt lookup (n-gram) on hand-made histories, and the draft-model
// proposer on a tiny random checkpoint, whose greedy drafts must equal the draft model decoding
// alone from the same tokens, whatever was accepted before.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "../source_tree.h"
#include "core/error.h"
#include "engine/spec/draft_proposer.h"
#include "engine/spec/ngram_proposer.h"
#include "testing/test_model.h"

namespace qwen3::engine {
namespace {

namespace fs = std::filesystem;
using Tokens = std::vector<int32_t>;

// --- n-gram ---

Tokens ngram(const Tokens& t, int k, NgramOptions o = {}) {
  Tokens d;
  NgramProposer::lookup(t, k, o, d);
  return d;
}

TEST(NgramProposer, PrefersTheLongestMatch) {
  // "1 2 3" occurs at 0 (followed by 4 8 2); "2 3" more recently at 5 (followed by 5).
  const Tokens t = {1, 2, 3, 4, 8, 2, 3, 5, 1, 2, 3};
  EXPECT_EQ(ngram(t, 3), (Tokens{4, 8, 2}));
  EXPECT_EQ(ngram(t, 3, {.min_n = 1, .max_n = 2}), (Tokens{5, 1, 2}));
}

TEST(NgramProposer, TakesTheMostRecentOccurrence) {
  const Tokens t = {1, 2, 5, 1, 2, 6, 1, 2};
  EXPECT_EQ(ngram(t, 3), (Tokens{6, 1, 2}));
}

TEST(NgramProposer, CapsAtKAndAtTheEndOfHistory) {
  const Tokens t = {1, 2, 6, 1, 2};
  EXPECT_EQ(ngram(t, 1), (Tokens{6}));
  EXPECT_EQ(ngram(t, 5), (Tokens{6, 1, 2}));  // the history ends after three
  EXPECT_EQ(ngram(t, 0), Tokens{});
}

TEST(NgramProposer, NoMatchNoDraft) {
  EXPECT_EQ(ngram({1, 2, 3, 4}, 3), Tokens{});
  // Only a one-token match, and min_n = 2 asks for more.
  EXPECT_EQ(ngram({7, 1, 9, 2, 7}, 3, {.min_n = 2, .max_n = 3}), Tokens{});
  EXPECT_EQ(ngram({7, 1, 9, 2, 7}, 3, {.min_n = 1, .max_n = 3}), (Tokens{1, 9, 2}));
}

TEST(NgramProposer, TheSuffixDoesNotMatchItself) {
  EXPECT_EQ(ngram({5, 6, 7}, 3), Tokens{});
  // An occurrence may overlap the suffix (a repeated token, a period-2 pattern).
  EXPECT_EQ(ngram({4, 4, 4, 4}, 3), (Tokens{4}));
  EXPECT_EQ(ngram({1, 2, 1, 2, 1}, 4), (Tokens{2, 1}));
}

TEST(NgramProposer, ShortHistories) {
  EXPECT_EQ(ngram({}, 3), Tokens{});
  EXPECT_EQ(ngram({3}, 3), Tokens{});
  EXPECT_EQ(ngram({3, 3}, 3), (Tokens{3}));
  EXPECT_EQ(ngram({3, 4}, 3), Tokens{});
}

TEST(NgramProposer, ProposesForEachRequest) {
  NgramProposer p;
  EXPECT_EQ(p.name(), "ngram");
  const Tokens a = {1, 2, 6, 1, 2}, b = {1, 2, 3};
  const std::vector<DraftRequest> reqs = {{.id = 1, .tokens = a, .k = 2}, {.id = 2, .tokens = b, .k = 2}};
  std::vector<Draft> out(5);
  out[1].tokens = {99};  // stale content is cleared
  p.propose(reqs, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].tokens, (Tokens{6, 1}));
  EXPECT_TRUE(out[0].q.empty());
  EXPECT_EQ(out[1].tokens, Tokens{});
  EXPECT_EQ(p.kv_bytes(), 0);
  EXPECT_THROW(NgramProposer({.min_n = 0, .max_n = 2}), Error);
  EXPECT_THROW(NgramProposer({.min_n = 3, .max_n = 2}), Error);
}

// --- draft model ---

constexpr int64_t kVocab = 512;    // the tiny preset with a small vocabulary: fast lm_head
constexpr int64_t kMaxPos = 256;

const fs::path& model_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("qwen3_spec_test_" + std::to_string(::getpid()));
    TestModelOptions o;
    o.preset = "tiny";
    o.seed = 11;
    o.out = d;
    o.override_config = {{"vocab_size", kVocab}, {"max_position_embeddings", kMaxPos}, {"bos_token_id", 0},
                         {"eos_token_id", 1}};
    make_test_model(o);  // the tokenizer files are copied when found; the model does not need them
    // make_test_model writes Qwen3's special ids into generation_config.json whatever the vocabulary.
    std::ofstream(d / "generation_config.json") << R"({"bos_token_id": 0, "eos_token_id": [1]})";
    std::atexit([] { fs::remove_all(fs::temp_directory_path() / ("qwen3_spec_test_" + std::to_string(::getpid()))); });
    return d;
  }();
  return dir;
}

// A second copy of the weights, loaded once, to decode alone next to the proposer's copy.
Qwen3Model& solo_model() {
  static std::unique_ptr<Qwen3Model> m = Qwen3Model::load(model_dir());
  return *m;
}

DraftModelProposer make_proposer(int64_t num_pages = 64, int64_t target_vocab = kVocab) {
  return DraftModelProposer(Qwen3Model::load(model_dir()),
                            {.name = "draft", .num_pages = num_pages, .page_size = 16, .target_vocab = target_vocab});
}

// Greedy tokens of the draft model decoding alone from `tokens`.
Tokens direct_greedy(const Tokens& tokens, int n) {
  Qwen3Model& m = solo_model();
  KvCache kv(m.kv_options(64));
  kv.add_sequence(0);
  Logits l = m.prefill(0, tokens, kv);
  Tokens out;
  for (int i = 0; i < n; ++i) {
    auto row = l.row(0);
    const int32_t t = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
    out.push_back(t);
    if (i + 1 == n) break;
    const SeqId s = 0;
    l = m.decode({&s, 1}, {&t, 1}, kv);
  }
  return out;
}

Tokens seq(int n, int32_t start, int32_t step) {
  Tokens t;
  for (int i = 0; i < n; ++i) t.push_back(int32_t((start + i * step) % kVocab));
  return t;
}

SamplingParams greedy_params() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

TEST(DraftProposer, GreedyDraftsEqualTheDraftModelAlone) {
  auto p = make_proposer();
  const SamplingParams g = greedy_params();
  const Tokens a = seq(7, 3, 5), b = seq(20, 100, 7), c = seq(1, 42, 1);
  const std::vector<DraftRequest> reqs = {{.id = 5, .tokens = a, .prompt_len = 4, .k = 4, .params = &g},
                                          {.id = 9, .tokens = b, .prompt_len = 20, .k = 2, .params = &g},
                                          {.id = 2, .tokens = c, .prompt_len = 1, .k = 5, .params = &g}};
  std::vector<Draft> out;
  p.propose(reqs, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].tokens, direct_greedy(a, 4));
  EXPECT_EQ(out[1].tokens, direct_greedy(b, 2));
  EXPECT_EQ(out[2].tokens, direct_greedy(c, 5));
  for (auto& d : out) EXPECT_TRUE(d.q.empty());
  // The catch-up forward, then rounds 1..4 (the longest draft); the last draft is never fed.
  EXPECT_EQ(p.stats().forward_passes, 5);
  EXPECT_EQ(p.kv().num_tokens(5), int64_t(a.size()) + 3);
  EXPECT_EQ(p.kv().num_tokens(9), int64_t(b.size()) + 1);
  p.kv().check_invariants();
  EXPECT_GT(p.kv_bytes(), 0);
  EXPECT_EQ(p.name(), "draft");
}

// Each call brings the draft's state in line with the tokens it is given: after a partial accept
// with a different correction token, after a full accept plus the bonus token, after the same
// tokens again, and after the history was cut back (as a preempted request recomputes).
TEST(DraftProposer, StaysConsistentAcrossAccepts) {
  auto p = make_proposer();
  const SamplingParams g = greedy_params();
  Tokens t = seq(9, 17, 3);
  std::vector<Draft> out;
  // `catch_up`: the tokens the draft must compute before drafting (what its cache lacks).
  auto step = [&](const Tokens& tokens, int k, int64_t catch_up) {
    const DraftRequest r{.id = 1, .tokens = tokens, .prompt_len = 9, .k = k, .params = &g};
    const int64_t fed = p.stats().tokens_fed;
    p.propose({&r, 1}, out);
    EXPECT_EQ(p.stats().tokens_fed - fed, catch_up + k - 1);
    EXPECT_EQ(out[0].tokens, direct_greedy(tokens, k)) << "after " << tokens.size() << " tokens";
    EXPECT_EQ(p.kv().num_tokens(1), int64_t(tokens.size()) + k - 1);
    p.kv().check_invariants();
    return out[0].tokens;
  };
  Tokens d = step(t, 4, 9);
  // Accept two, then a token the draft did not propose: the third draft is rolled back.
  t.insert(t.end(), d.begin(), d.begin() + 2);
  t.push_back((d[2] + 1) % int32_t(kVocab));
  d = step(t, 4, 1);
  // Accept all four and a bonus token: the fourth draft and the bonus were never fed.
  t.insert(t.end(), d.begin(), d.end());
  t.push_back(7);
  d = step(t, 3, 2);
  step(t, 3, 1);  // nothing accepted, nothing new: the last token is fed again
  step(t, 1, 1);
  t.resize(5);
  step(t, 2, 1);
}

TEST(DraftProposer, FullCacheGivesAnEmptyDraft) {
  auto p = make_proposer(/*num_pages=*/2);
  const SamplingParams g = greedy_params();
  const Tokens small = seq(5, 1, 2), big = seq(40, 3, 3);  // 7 positions (1 page); 43 (3 pages)
  const std::vector<DraftRequest> reqs = {{.id = 1, .tokens = small, .prompt_len = 5, .k = 3, .params = &g},
                                          {.id = 2, .tokens = big, .prompt_len = 40, .k = 3, .params = &g}};
  std::vector<Draft> out;
  EXPECT_NO_THROW(p.propose(reqs, out));
  EXPECT_EQ(out[0].tokens, direct_greedy(small, 3));
  EXPECT_TRUE(out[1].tokens.empty());
  EXPECT_FALSE(p.kv().contains(2));
  EXPECT_EQ(p.stats().dropped, 1);
  p.kv().check_invariants();
  // Room again once the first is released.
  p.release(1);
  p.propose({&reqs[1], 1}, out);
  EXPECT_TRUE(out[0].tokens.empty());  // 3 pages never fit in 2
  const Tokens mid = seq(20, 9, 1);    // 22 positions: 2 pages
  const DraftRequest r{.id = 3, .tokens = mid, .prompt_len = 20, .k = 3, .params = &g};
  p.propose({&r, 1}, out);
  EXPECT_EQ(out[0].tokens, direct_greedy(mid, 3));
  p.kv().check_invariants();
}

TEST(DraftProposer, ReleaseFreesPages) {
  auto p = make_proposer(8);
  const SamplingParams g = greedy_params();
  const Tokens a = seq(30, 4, 1);
  const DraftRequest r{.id = 4, .tokens = a, .prompt_len = 30, .k = 3, .params = &g};
  std::vector<Draft> out;
  p.propose({&r, 1}, out);
  EXPECT_EQ(p.kv().num_free_pages(), 8 - 2);
  p.release(4);
  p.release(12345);  // unknown: ignored
  EXPECT_EQ(p.kv().num_free_pages(), 8);
  EXPECT_FALSE(p.kv().contains(4));
  p.kv().check_invariants();
  p.propose({&r, 1}, out);  // starts over from the whole history
  EXPECT_EQ(out[0].tokens, direct_greedy(a, 3));
}

TEST(DraftProposer, UnreadableRequestsGetEmptyDrafts) {
  auto p = make_proposer();
  const SamplingParams g = greedy_params();
  const Tokens bad = {1, 2, int32_t(kVocab) + 3};  // outside the draft's vocabulary
  Tokens at_limit = seq(int(kMaxPos) - 1, 1, 1);   // positions up to kMaxPos - 1 may be written
  const Tokens full = seq(int(kMaxPos), 1, 1), past = seq(int(kMaxPos) + 1, 1, 1);
  const std::vector<DraftRequest> reqs = {{.id = 1, .tokens = bad, .prompt_len = 3, .k = 3, .params = &g},
                                          {.id = 2, .tokens = at_limit, .prompt_len = 5, .k = 4, .params = &g},
                                          {.id = 3, .tokens = full, .prompt_len = 5, .k = 4, .params = &g},
                                          {.id = 4, .tokens = past, .prompt_len = 5, .k = 4, .params = &g},
                                          {.id = 5, .tokens = {}, .prompt_len = 0, .k = 4, .params = &g}};
  std::vector<Draft> out;
  p.propose(reqs, out);
  EXPECT_TRUE(out[0].tokens.empty());
  EXPECT_EQ(out[1].tokens, direct_greedy(at_limit, 2));  // k capped: one draft fed at position 255
  EXPECT_EQ(out[2].tokens, direct_greedy(full, 1));
  EXPECT_TRUE(out[3].tokens.empty());
  EXPECT_TRUE(out[4].tokens.empty());
  p.kv().check_invariants();
}

// Sampled drafting: q is a distribution over the target's vocabulary from which each token came;
// the same seed gives the same drafts. A target vocabulary larger than the draft's gets zeros past
// it; a smaller one cuts the rows.
TEST(DraftProposer, SampledDraftsCarryTheirDistribution) {
  SamplingParams s;
  s.temperature = 0.9;
  s.top_k = 40;
  s.top_p = 0.95;
  s.repetition_penalty = 1.2;
  s.frequency_penalty = 0.3;
  const Tokens a = seq(12, 8, 9), b = seq(6, 200, 31);
  for (int64_t target_vocab : {kVocab, kVocab + 100, int64_t(300)}) {
    SCOPED_TRACE(target_vocab);
    std::vector<Tokens> drafts;
    for (int run = 0; run < 2; ++run) {
      auto p = make_proposer(64, target_vocab);
      Rng ra(7), rb(8);
      const std::vector<DraftRequest> reqs = {
          {.id = 1, .tokens = a, .prompt_len = 6, .k = 4, .params = &s, .rng = &ra},
          {.id = 2, .tokens = b, .prompt_len = 6, .k = 3, .params = &s, .rng = &rb}};
      std::vector<Draft> out;
      p.propose(reqs, out);
      for (size_t i = 0; i < out.size(); ++i) {
        const Draft& d = out[i];
        ASSERT_EQ(d.tokens.size(), size_t(reqs[i].k));
        ASSERT_EQ(d.q.size(), d.tokens.size());
        for (size_t j = 0; j < d.tokens.size(); ++j) {
          ASSERT_EQ(d.q[j].size(), size_t(target_vocab));
          EXPECT_NEAR(std::accumulate(d.q[j].begin(), d.q[j].end(), 0.0), 1.0, 1e-5);
          EXPECT_LT(d.tokens[j], std::min(target_vocab, kVocab));
          EXPECT_GT(d.q[j][size_t(d.tokens[j])], 0.0f);
          EXPECT_LE(std::count_if(d.q[j].begin(), d.q[j].end(), [](float x) { return x > 0; }), 40);
          for (int64_t t = kVocab; t < target_vocab; ++t) EXPECT_EQ(d.q[j][size_t(t)], 0.0f);
        }
        drafts.push_back(d.tokens);
      }
    }
    EXPECT_EQ(drafts[0], drafts[2]);
    EXPECT_EQ(drafts[1], drafts[3]);
  }
}

// --- tokenizers ---

TEST(DraftProposer, CompareVocabularies) {
  // The tokenizer tests' small byte-level BPE file: 268 vocabulary entries, then added tokens
  // 268.. (<special> is the one flagged special), 273 ids in all.
  std::ifstream in(test::source_dir() / "tests/unit/tokenizer/tiny_tokenizer.json");
  ASSERT_TRUE(in) << "tests/unit/tokenizer/tiny_tokenizer.json";
  const nlohmann::json j = nlohmann::json::parse(in);
  auto load = [](const nlohmann::json& x) { return Tokenizer::from_json(x.dump()); };
  const Tokenizer target = load(j);
  ASSERT_EQ(target.vocab_size(), 273);
  EXPECT_EQ(compare_vocabularies(target, load(j)), "");

  nlohmann::json swapped = j;  // two ids exchanged
  swapped["model"]["vocab"]["aa"] = 260;
  swapped["model"]["vocab"]["aaa"] = 259;
  EXPECT_EQ(compare_vocabularies(target, load(swapped)), "token 259 is 'aa' in the target and 'aaa' in the draft");

  nlohmann::json fewer = j;  // the last added token missing
  fewer["added_tokens"].erase(fewer["added_tokens"].size() - 1);
  EXPECT_EQ(compare_vocabularies(target, load(fewer)), "the target has 273 tokens and the draft 272");
  EXPECT_EQ(compare_vocabularies(load(fewer), target), "");  // extra draft tokens are fine

  nlohmann::json flag = j;  // <special> no longer special
  flag["added_tokens"][0]["special"] = false;
  EXPECT_EQ(compare_vocabularies(target, load(flag)),
            "token 268 ('<special>') is special in the target and not in the draft");
}

}  // namespace
}  // namespace qwen3::engine
