// Token masks: equal to brute force (every token tried on a copy of the matcher) along random
// generations, through rollback, split UTF-8, the depth limit and a cache too small to hold anything.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/state_classes.h"
#include "grammar/token_mask.h"
#include "grammar_test_util.h"

namespace qwen3::grammar {
namespace {

using Mask = std::vector<uint32_t>;

bool has(const Mask& m, int32_t id) { return (m[id >> 5] >> (id & 31)) & 1; }

Mask brute_force(const Matcher& m, const TokenVocabulary& v) {
  Mask out(v.mask_words(), 0);
  for (size_t id = 0; id < v.size(); ++id) {
    Matcher copy = m;
    if (copy.accept_token(static_cast<int32_t>(id))) out[id >> 5] |= 1u << (id & 31);
  }
  return out;
}

Mask fast(TokenMasker& masker, const Matcher& m, const TokenVocabulary& v) {
  Mask out(v.mask_words(), 0xDEADBEEF);
  masker.fill_mask(m, out.data());
  return out;
}

std::vector<int32_t> allowed(const Mask& m, size_t n) {
  std::vector<int32_t> ids;
  for (size_t id = 0; id < n; ++id)
    if (has(m, static_cast<int32_t>(id))) ids.push_back(static_cast<int32_t>(id));
  return ids;
}

struct Fixture {
  std::shared_ptr<const CompiledGrammar> g;
  std::shared_ptr<const TokenVocabulary> v;
  test::SyntheticVocab sv;
};

Fixture make(const std::string& gbnf, const GrammarLimits& limits = {}) {
  Fixture f;
  f.g = compile_grammar(gbnf, limits);
  f.sv = test::synthetic_vocab(1500, 7);
  f.v = std::make_shared<TokenVocabulary>(f.sv.bytes, f.sv.special, f.sv.end);
  return f;
}

// A random generation: at each step the mask must equal brute force; picks an allowed token
// (preferring ordinary ones, so that documents grow) until the end or `steps`.
int random_walk(const Fixture& f, TokenMasker& masker, uint32_t seed, int steps) {
  std::mt19937 rng(seed);
  Matcher m(f.g, f.v);
  int step = 0;
  for (; step < steps; ++step) {
    Mask want = brute_force(m, *f.v);
    Mask got = fast(masker, m, *f.v);
    EXPECT_EQ(got, want) << "seed " << seed << " step " << step;
    if (got != want) return step;
    auto ids = allowed(got, f.v->size());
    if (ids.empty()) break;
    int32_t pick = ids[rng() % ids.size()];
    if (f.v->is_special(pick) && ids.size() > 2 && step < steps - 1) pick = ids[rng() % ids.size()];
    EXPECT_TRUE(m.accept_token(pick));
    if (m.is_terminated()) break;
  }
  return step;
}

TEST(GrammarMask, JsonEqualsBruteForce) {
  Fixture f = make(test::read_source_file("tests/grammar/grammars/json.gbnf"));
  TokenMasker masker(f.g, f.v);
  int steps = 0;
  for (uint32_t seed = 1; seed <= 12; ++seed) steps += random_walk(f, masker, seed, 80);
  EXPECT_GT(steps, 400);  // the documents grow: the walks do not all end at once
  EXPECT_GT(masker.stats().hits, 0u);
  EXPECT_GT(masker.stats().context_checks, 0u);  // the run-time half was exercised
}

TEST(GrammarMask, TinyCacheEvictsAndStaysExact) {
  Fixture f = make(test::read_source_file("tests/grammar/grammars/json.gbnf"));
  TokenMasker masker(f.g, f.v, {.max_bytes = 1});
  for (uint32_t seed = 100; seed <= 103; ++seed) random_walk(f, masker, seed, 60);
  EXPECT_GT(masker.stats().evictions, 0u);
  EXPECT_EQ(masker.stats().entries, 1u);
}

TEST(GrammarMask, CacheStaysWithinItsByteBudget) {
  Fixture f = make(test::read_source_file("tests/grammar/grammars/json.gbnf"));
  const size_t budget = 4 * (f.v->mask_words() * 4 + 64);  // a few entries' bitsets
  TokenMasker masker(f.g, f.v, {.max_bytes = budget});
  Matcher m(f.g, f.v);
  std::vector<uint32_t> bits(f.v->mask_words());
  for (const char* piece : {"{", "\"k\"", ":", " ", "[", "1", ",", "\"s\\n\"", "]", "}"}) {
    masker.fill_mask(m, bits.data());
    EXPECT_LE(masker.stats().cache_bytes, budget);
    ASSERT_TRUE(m.accept_bytes(piece));
  }
  EXPECT_GT(masker.stats().entries, 1u);
  EXPECT_GT(masker.stats().evictions, 0u);
  masker.precompute_all();  // more states than fit: the cache keeps evicting, never grows past the budget
  EXPECT_LE(masker.stats().cache_bytes, budget);
}

TEST(GrammarMask, OtherGrammarsEqualBruteForce) {
  for (const char* g : {R"(root ::= ("ab" | [0-9]+ "," | "é" | [а-я]){1,5} "!"?)",
                        R"(root ::= item ("," item)*
                           item ::= "[" (item ("," item)*)? "]" | [0-9]+)",
                        R"(root ::= . . "e"? "+" [^\x00-\x7f]*)",
                        R"(root ::= "a" root? "b" | "")"}) {
    Fixture f = make(g);
    TokenMasker masker(f.g, f.v);
    for (uint32_t seed = 1; seed <= 6; ++seed) random_walk(f, masker, seed, 30);
  }
}

TEST(GrammarMask, RollbackRestoresExactly) {
  Fixture f = make(test::read_source_file("tests/grammar/grammars/json.gbnf"));
  TokenMasker masker(f.g, f.v);
  std::mt19937 rng(5);
  Matcher m(f.g, f.v);
  std::vector<Mask> masks;
  for (int step = 0; step < 40; ++step) {
    masks.push_back(fast(masker, m, *f.v));
    std::vector<int32_t> ids;
    for (int32_t id : allowed(masks.back(), f.v->size()))
      if (!f.v->is_special(id)) ids.push_back(id);
    if (ids.empty()) break;
    ASSERT_TRUE(m.accept_token(ids[rng() % ids.size()]));
  }
  Matcher fork = m;
  while (m.num_steps() > 0) {
    size_t n = std::min<size_t>(m.num_steps(), 1 + rng() % 3);
    m.rollback(n);
    ASSERT_EQ(fast(masker, m, *f.v), masks[m.num_steps()]) << "after rollback to " << m.num_steps();
    ASSERT_EQ(fast(masker, m, *f.v), brute_force(m, *f.v));
  }
  EXPECT_EQ(fork.num_steps(), masks.size());  // the fork kept its own history
}

TEST(GrammarMask, Utf8SplitAcrossTokens) {
  Fixture f = make(R"(root ::= "é"+ | [а-я]+)");
  TokenMasker masker(f.g, f.v);
  Matcher m(f.g, f.v);
  ASSERT_TRUE(m.accept_token(0xC3));  // the lead byte of é alone
  Mask mask = fast(masker, m, *f.v);
  EXPECT_EQ(mask, brute_force(m, *f.v));
  EXPECT_TRUE(has(mask, 0xA9));       // its continuation byte
  EXPECT_FALSE(has(mask, 0xA8));
  EXPECT_FALSE(has(mask, f.sv.eos));  // the text is not complete
  EXPECT_FALSE(m.can_end());
  ASSERT_TRUE(m.accept_token(0xA9));
  EXPECT_TRUE(m.can_end());
  Matcher m2(f.g, f.v);
  ASSERT_TRUE(m2.accept_bytes("\xd0\xbf\xd1"));  // п and half of р
  EXPECT_FALSE(m2.accept_bytes("\xa9"));
  EXPECT_TRUE(m2.accept_bytes("\x80"));
  EXPECT_EQ(fast(masker, m2, *f.v), brute_force(m2, *f.v));
}

TEST(GrammarMask, SpecialTokensOnlyAtTheEnd) {
  Fixture f = make(R"(root ::= "ab" "c"?)");
  TokenMasker masker(f.g, f.v);
  Matcher m(f.g, f.v);
  Mask mask = fast(masker, m, *f.v);
  EXPECT_FALSE(has(mask, f.sv.eos));
  EXPECT_FALSE(m.accept_token(f.sv.eos));
  ASSERT_TRUE(m.accept_bytes("ab"));
  mask = fast(masker, m, *f.v);
  EXPECT_TRUE(has(mask, f.sv.eos));
  EXPECT_TRUE(has(mask, f.sv.im_end));
  EXPECT_FALSE(has(mask, f.sv.im_start));  // special but not an end id
  EXPECT_FALSE(m.accept_token(f.sv.im_start));
  EXPECT_TRUE(has(mask, 'c'));
  ASSERT_TRUE(m.accept_token(f.sv.eos));
  EXPECT_TRUE(m.is_terminated());
  EXPECT_EQ(allowed(fast(masker, m, *f.v), f.v->size()).size(), 0u);
  EXPECT_FALSE(m.accept_bytes("c"));
  m.rollback(1);
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(m.accept_token('c'));
}

TEST(GrammarMask, DepthLimitIsExact) {
  GrammarLimits l;
  l.max_stack_depth = 6;
  Fixture f = make(R"(root ::= item
item ::= "[" (item ("," item)*)? "]" | [0-9])", l);
  TokenMasker masker(f.g, f.v);
  Matcher m(f.g, f.v);
  for (int depth = 0; depth < 6; ++depth) {
    ASSERT_EQ(fast(masker, m, *f.v), brute_force(m, *f.v)) << "depth " << depth;
    if (!m.accept_bytes("[")) break;
  }
  EXPECT_FALSE(m.accept_bytes("["));
}

// A bounded repetition: small rules are compiled in place, the chain's states share entries by
// class, and every mask along the chain (up to its end, where the classes differ) is still exact.
TEST(GrammarMask, BoundedRepetitionSharesEntriesAndStaysExact) {
  Fixture f = make(R"(root ::= "\"" char{0,40} "\"" [0-9]{2,30}
char ::= [^"\\\x00-\x1F] | "\\" esc
esc ::= ["\\nt] | "u" [0-9a-f]{4})");
  EXPECT_TRUE(f.g->call_edges.empty());  // char and esc are in place: no token depends on a caller
  TokenMasker masker(f.g, f.v);
  EXPECT_LT(masker.stats().classes * 2, masker.stats().states);
  Matcher m(f.g, f.v);
  ASSERT_TRUE(m.accept_bytes("\""));
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(fast(masker, m, *f.v), brute_force(m, *f.v)) << "char " << i;
    ASSERT_TRUE(m.accept_bytes(i % 7 == 3 ? "\xc3\xa9" : i % 11 == 5 ? "\\u00e9" : "a"));
  }
  ASSERT_EQ(fast(masker, m, *f.v), brute_force(m, *f.v));
  EXPECT_FALSE(m.accept_bytes("a"));  // the 41st character
  ASSERT_TRUE(m.accept_bytes("\""));
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(fast(masker, m, *f.v), brute_force(m, *f.v)) << "digit " << i;
    ASSERT_TRUE(m.accept_bytes("7"));
  }
  EXPECT_FALSE(m.accept_bytes("7"));
  EXPECT_TRUE(m.can_end());
  for (uint32_t seed = 1; seed <= 8; ++seed) random_walk(f, masker, seed, 60);
}

// maxLength 4000 is 4000 positions, but only the last (longest token) ones differ for a token: the
// classes stay few, so masks are computed a handful of times, not once per position.
TEST(GrammarMask, LongMaxLengthHasFewClasses) {
  Fixture f = make(json_schema_to_gbnf(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"s": {"type": "string", "maxLength": 4000}}, "required": ["s"]})")));
  TokenMasker masker(f.g, f.v);
  EXPECT_GT(masker.stats().states, 40000u);
  EXPECT_LT(masker.stats().classes, 400u);
  for (uint32_t seed = 1; seed <= 3; ++seed) random_walk(f, masker, seed, 40);
  EXPECT_LT(masker.stats().entries, 400u);
}

// A loop of calls that may read nothing has no bound on the rounds a byte takes: no sharing.
TEST(GrammarMask, EmptyCallCycleKeepsStatesApart) {
  auto g = compile_grammar(R"g(root ::= e* "x"
e ::= "(" e ")" | "")g");
  StateClasses c = state_classes(*g, 8);
  EXPECT_TRUE(c.identity);
  ASSERT_EQ(c.of.size(), g->num_states());
  auto chain = compile_grammar(R"(root ::= "a"{20} "b")");
  StateClasses d = state_classes(*chain, 3);
  EXPECT_FALSE(d.identity);
  std::vector<uint32_t> seq{chain->rule_start[chain->root]};  // the states before each byte, and the last
  while (chain->has_bytes(seq.back())) seq.push_back(chain->byte_edges[chain->states[seq.back()].bytes_begin].target);
  ASSERT_EQ(seq.size(), 22u);
  EXPECT_EQ(d.of[seq[0]], d.of[seq[1]]);  // 20 and 19 more "a": the same for 3 bytes
  EXPECT_EQ(d.of[seq[0]], d.of[seq[14]]);
  for (size_t i = 18; i < seq.size(); ++i)  // "b" or the end within 3 bytes: each its own class
    for (size_t j = 0; j < i; ++j) EXPECT_NE(d.of[seq[i]], d.of[seq[j]]) << i << " " << j;
  EXPECT_EQ(d.rep[d.of[seq[14]]], seq[0]);  // the lowest state represents the class
}

TEST(GrammarMask, VocabularyRejectsBadIds) {
  std::vector<std::string> bytes = {"a", "b"};
  std::vector<int32_t> bad = {2};
  EXPECT_THROW(TokenVocabulary(bytes, bad, {}), Error);
  EXPECT_THROW(TokenVocabulary(bytes, {}, bad), Error);
}

}  // namespace
}  // namespace qwen3::grammar
