// Matcher: acceptance, prefixes, recursion, rollback, forks, the stack-depth limit.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "grammar/grammar.h"

namespace qwen3::grammar {
namespace {

bool full(const std::string& g, const std::string& text) {
  Matcher m(compile_grammar(g));
  return m.accept_bytes(text) && m.can_end();
}
bool prefix(const std::string& g, const std::string& text) {
  Matcher m(compile_grammar(g));
  return m.accept_bytes(text);
}

TEST(GrammarMatcher, LiteralsAndAlternatives) {
  const std::string g = R"(root ::= "yes" | "no")";
  EXPECT_TRUE(full(g, "yes"));
  EXPECT_TRUE(full(g, "no"));
  EXPECT_FALSE(full(g, "ye"));
  EXPECT_TRUE(prefix(g, "ye"));
  EXPECT_FALSE(prefix(g, "yo"));
  EXPECT_FALSE(prefix(g, "yess"));
}

TEST(GrammarMatcher, RepetitionBounds) {
  const std::string g = R"(root ::= "a"{2,4} "b"?)";
  EXPECT_FALSE(full(g, "a"));
  EXPECT_TRUE(full(g, "aa"));
  EXPECT_TRUE(full(g, "aaaa"));
  EXPECT_TRUE(full(g, "aaab"));
  EXPECT_FALSE(prefix(g, "aaaaa"));
  EXPECT_TRUE(full(R"(root ::= ("ab"){3})", "ababab"));
  EXPECT_FALSE(full(R"(root ::= ("ab"){3})", "abab"));
  EXPECT_TRUE(full(R"(root ::= [0-9]{2,} "x")", "123x"));
  EXPECT_FALSE(full(R"(root ::= [0-9]{2,} "x")", "1x"));
  EXPECT_TRUE(full(R"(root ::= "a"* "b"+)", "aab"));
  EXPECT_FALSE(full(R"(root ::= "a"* "b"+)", "aa"));
}

TEST(GrammarMatcher, Recursion) {
  const std::string g = R"(
    root ::= list
    list ::= "[" (item ("," item)*)? "]"
    item ::= [0-9]+ | list
  )";
  EXPECT_TRUE(full(g, "[]"));
  EXPECT_TRUE(full(g, "[1,[2,[]],[[3]]]"));
  EXPECT_FALSE(full(g, "[1,[2]"));
  EXPECT_TRUE(prefix(g, "[1,[2"));
  EXPECT_FALSE(prefix(g, "[1,]"));
}

TEST(GrammarMatcher, Utf8ClassesAndDot) {
  const std::string g = R"(root ::= [а-я]+ "." .)";
  EXPECT_TRUE(full(g, "привет.😀"));
  EXPECT_FALSE(full(g, "hello.x"));
  EXPECT_TRUE(prefix(g, "п\xd1"));       // half of 'р'
  EXPECT_FALSE(prefix(g, "\xd1\x80\x80"));  // not UTF-8
  EXPECT_TRUE(full(R"(root ::= [^a])", "\xf0\x9f\x98\x80"));
  EXPECT_FALSE(full(R"(root ::= [^a])", "a"));
  EXPECT_FALSE(prefix(R"(root ::= .)", "\xed\xa0\x80"));  // a surrogate is not a character
}

TEST(GrammarMatcher, RollbackAndFork) {
  Matcher m(compile_grammar(R"(root ::= "ab" ("c" | "d") "e")"));
  ASSERT_TRUE(m.accept_bytes("a"));
  ASSERT_TRUE(m.accept_bytes("b"));
  Matcher fork = m;
  ASSERT_TRUE(m.accept_bytes("c"));
  ASSERT_TRUE(fork.accept_bytes("d"));
  EXPECT_FALSE(m.accept_bytes("d"));
  EXPECT_EQ(m.num_steps(), 3u);
  m.rollback(1);
  EXPECT_TRUE(m.accept_bytes("de"));
  EXPECT_TRUE(m.can_end());
  m.rollback(3);
  EXPECT_EQ(m.num_steps(), 0u);
  EXPECT_TRUE(m.accept_bytes("abce"));
  EXPECT_THROW(m.rollback(2), Error);
  EXPECT_TRUE(fork.accept_bytes("e"));
  EXPECT_TRUE(fork.can_end());
}

TEST(GrammarMatcher, StackDepthLimit) {
  GrammarLimits limits;
  limits.max_stack_depth = 10;
  auto g = compile_grammar(R"G(root ::= x
x ::= "(" x? ")")G", limits);
  Matcher m(g);
  EXPECT_TRUE(m.accept_bytes(std::string(9, '(')));
  EXPECT_FALSE(m.accept_bytes("("));  // a tenth x opens an eleventh frame
  EXPECT_TRUE(m.accept_bytes(std::string(9, ')')));
  EXPECT_TRUE(m.can_end());
}

}  // namespace
}  // namespace qwen3::grammar
