// The GBNF parser and compiler: every construct, and every error with its line:column.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar_test_util.h"

namespace qwen3::grammar {
namespace {

bool full(const std::string& g, const std::string& text) {
  Matcher m(compile_grammar(g));
  return m.accept_bytes(text) && m.can_end();
}

// The message of the error compile_grammar(g) throws ("" when it does not throw).
std::string error_of(const std::string& g, const GrammarLimits& limits = {}) {
  try {
    compile_grammar(g, limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_GRAMMAR_ERROR(g, where, what)                                  \
  do {                                                                        \
    std::string msg = error_of(g);                                            \
    EXPECT_NE(msg.find(std::string("grammar:") + (where) + ": "), std::string::npos) << msg; \
    EXPECT_NE(msg.find(what), std::string::npos) << msg;                      \
  } while (0)

TEST(GrammarParser, StringEscapes) {
  EXPECT_TRUE(full(R"(root ::= "a\n\t\r\\\"b")", "a\n\t\r\\\"b"));
  EXPECT_TRUE(full(R"(root ::= "\x41\u00e9\U0001F600")", "A\xc3\xa9\xf0\x9f\x98\x80"));
  EXPECT_TRUE(full(R"(root ::= "\[\]\-\/")", "[]-/"));
  EXPECT_TRUE(full("root ::= \"h\xc3\xa9\"", "h\xc3\xa9"));  // raw UTF-8 in a literal
  EXPECT_TRUE(full(R"(root ::= "")", ""));
}

TEST(GrammarParser, CharacterClasses) {
  EXPECT_TRUE(full(R"(root ::= [a-cx]+)", "abxc"));
  EXPECT_FALSE(full(R"(root ::= [a-cx]+)", "abd"));
  EXPECT_TRUE(full(R"(root ::= [^"\\]+)", "ab c"));
  EXPECT_FALSE(full(R"(root ::= [^"\\]+)", "a\"b"));
  EXPECT_FALSE(full(R"(root ::= [^"\\]+)", "a\\b"));
  EXPECT_TRUE(full(R"(root ::= [\]\-]+)", "]-"));
  EXPECT_TRUE(full(R"(root ::= [a-])", "-"));             // a '-' before ']' is literal
  EXPECT_TRUE(full(R"(root ::= [\x00-\x1f])", std::string(1, '\x05')));
  EXPECT_TRUE(full(R"(root ::= [\u0400-\u04FF])", "\xd0\x96"));  // Ж
  EXPECT_TRUE(full(R"(root ::= [^\x00-\x7f])", "\xe2\x82\xac"));  // € is not ASCII
  EXPECT_FALSE(full(R"(root ::= [^\x00-\x7f])", "z"));
  EXPECT_TRUE(full(R"(root ::= [\U00010000-\U0010FFFF])", "\xf4\x8f\xbf\xbf"));
}

TEST(GrammarParser, GroupsCommentsNewlinesAndDot) {
  const std::string g = R"(# a comment
root ::= greeting (" " name)+   # trailing comment
greeting ::=
    "hi"
  | "hello"
name ::= [A-Z] [a-z]* | "you"
)";
  EXPECT_TRUE(full(g, "hi Ann you"));
  EXPECT_TRUE(full(g, "hello Bob"));
  EXPECT_FALSE(full(g, "hello"));
  EXPECT_TRUE(full(R"(root ::= . . .)", "a\xc3\xa9\xf0\x9f\x98\x80"));
  EXPECT_TRUE(full(R"(root ::= ("a" | "b" ("c" | "d")*)?)", "bcdc"));
  EXPECT_TRUE(full(R"(root ::= ("a" | "b" ("c" | "d")*)?)", ""));
  EXPECT_TRUE(full(R"(root ::= "x"{3} "y"{1,} "z"{0,2} "w"{ 1 , 2 })", "xxxyyzw"));
  EXPECT_TRUE(full(R"(root ::= [a-z_-]+ r2
r2 ::= "!")", "a-b_c!"));
}

TEST(GrammarParser, NullableAndRightRecursion) {
  const std::string g = R"(root ::= a b a
a ::= "x"?
b ::= "y" b | "")";
  EXPECT_TRUE(full(g, ""));
  EXPECT_TRUE(full(g, "xyyx"));
  EXPECT_TRUE(full(g, "yyy"));
  EXPECT_FALSE(full(g, "xxx"));
}

TEST(GrammarParser, Errors) {
  EXPECT_GRAMMAR_ERROR("root ::= value", "1:10", "undefined rule 'value'");
  EXPECT_GRAMMAR_ERROR("item ::= \"x\"", "1:1", "no 'root' rule");
  EXPECT_GRAMMAR_ERROR("root ::= \"a\\q\"", "1:12", "bad escape '\\q'");
  EXPECT_GRAMMAR_ERROR("root ::= \"\\x4\"", "1:11", "bad escape: expected 2 hex digits");
  EXPECT_GRAMMAR_ERROR("root ::= \"\\uD800\"", "1:11", "not a Unicode scalar value");
  EXPECT_GRAMMAR_ERROR("root ::= [\\U00110000]", "1:11", "not a Unicode scalar value");
  EXPECT_GRAMMAR_ERROR("root ::=\n  (\"a\" | \"b\"", "2:3", "unbalanced parenthesis: '(' is never closed");
  EXPECT_GRAMMAR_ERROR("root ::= \"a\" )", "1:14", "unbalanced parenthesis: ')' without '('");
  EXPECT_GRAMMAR_ERROR("root ::= \"abc", "1:10", "unterminated string literal");
  EXPECT_GRAMMAR_ERROR("root ::= [abc", "1:10", "unterminated character class");
  EXPECT_GRAMMAR_ERROR("root ::= [z-a]", "1:12", "reversed");
  EXPECT_GRAMMAR_ERROR("root ::= [^\\x00-\\U0010FFFF]", "1:10", "matches no character");
  EXPECT_GRAMMAR_ERROR("root ::= \"a\"{3,1}", "1:13", "the maximum is below the minimum");
  EXPECT_GRAMMAR_ERROR("root ::= \"a\"{x}", "1:14", "expected a number");
  EXPECT_GRAMMAR_ERROR("root ::= \"a\"{2", "1:15", "expected '}'");
  EXPECT_GRAMMAR_ERROR("root \"a\"", "1:6", "expected '::='");
  EXPECT_GRAMMAR_ERROR("root ::= \"a\"\nroot ::= \"b\"", "2:1", "defined twice (first at 1:1)");
  EXPECT_GRAMMAR_ERROR("root ::= \"a\" ! \"b\"", "1:14", "unexpected '!'");
  EXPECT_GRAMMAR_ERROR("  # only a comment\n", "2:1", "empty grammar");
  EXPECT_GRAMMAR_ERROR("root ::= \"\xff\"", "1:11", "invalid UTF-8");
  EXPECT_GRAMMAR_ERROR("root ::= \"a\" root", "1:1", "matches no finite string");
}

TEST(GrammarParser, LeftRecursionIsRejected) {
  EXPECT_GRAMMAR_ERROR("root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]", "2:1",
                       "left recursion is not supported: rule 'expr' can reach itself before reading a byte (expr -> expr)");
  // Indirect, through a nullable prefix.
  EXPECT_GRAMMAR_ERROR("root ::= a\na ::= opt b \"x\" | \"y\"\nb ::= a \"z\"\nopt ::= \"o\"?", "2:1",
                       "(a -> b -> a)");
  // Right recursion is fine.
  EXPECT_EQ(error_of("root ::= \"x\" root | \"y\""), "");
}

// Mutated grammar texts either compile (and then match without trouble) or throw qwen3::Error;
// nothing else (run under the sanitizers by scripts/test.sh).
TEST(GrammarParser, MutatedTextsCompileOrFailCleanly) {
  const std::string base = test::read_source_file("tests/grammar/grammars/json.gbnf");
  const std::string noise = "()[]{}\"\\|*+?^-.,:=#\n 0123456789xu\xc3\xa9\xff";
  GrammarLimits limits;
  limits.max_states = 20000;
  limits.max_repetition = 50;
  std::mt19937 rng(11);
  int compiled = 0, failed = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string text = base;
    for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
      size_t pos = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0: text.insert(pos, 1, noise[rng() % noise.size()]); break;
        case 1: if (pos < text.size()) text.erase(pos, 1); break;
        default: if (pos < text.size()) text[pos] = noise[rng() % noise.size()];
      }
    }
    try {
      Matcher m(compile_grammar(text, limits));
      m.accept_bytes(R"({"a": [1, "x"]})");
      ++compiled;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("grammar:", 0), 0u) << e.what();
      ++failed;
    }
  }
  EXPECT_GT(compiled, 100);
  EXPECT_GT(failed, 100);
}

}  // namespace
}  // namespace qwen3::grammar
