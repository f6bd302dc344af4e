// ECMAScript regex -> GBNF: output shapes and the constructs refused by name. What the grammars
// accept is checked against ajv's RegExp in tests/grammar/corpus_check.py (schemas with `pattern`).
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "grammar/gbnf_text.h"
#include "grammar/regex.h"

namespace qwen3::grammar {
namespace {

std::string error_of(const char* pattern) {
  try {
    regex_to_gbnf(pattern);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RegexTest, Shapes) {
  EXPECT_EQ(regex_to_gbnf("abc"), "root ::= \"abc\"\n");
  EXPECT_EQ(regex_to_gbnf("^\\d{3}-[a-z]+$"), "root ::= ([0-9]{3} \"-\" [a-z]+)\n");
  EXPECT_EQ(regex_to_gbnf("a|b*|"), "root ::= \"a\" | [b]* | \"\"\n");
  EXPECT_EQ(regex_to_gbnf("(?:ab)+c?"), "root ::= (\"ab\"+ [c]?)\n");
  EXPECT_EQ(regex_to_gbnf("x{2,}y{1,3}?"), "root ::= ([x]{2,} [y]{1,3})\n");
  EXPECT_EQ(regex_to_gbnf("[^\\n]"), "root ::= [\\x00-\\t\\x0B-\\uD7FF\\uE000-\\U0010FFFF]\n");
  EXPECT_EQ(regex_to_gbnf("[\\w-]"), "root ::= [\\-0-9A-Z_a-z]\n");
  EXPECT_EQ(regex_to_gbnf("\\u00e9\\u{1F600}\\x41\\."), "root ::= \"é😀A.\"\n");
  EXPECT_EQ(regex_to_gbnf("[\\^\\]]"), "root ::= [\\]\\x5E]\n");
  EXPECT_EQ(regex_to_gbnf("\\uD83D\\uDE00"), "root ::= \"😀\"\n");
}

TEST(RegexTest, RefusedConstructsAreNamed) {
  EXPECT_NE(error_of("(?=a)").find("unsupported construct: lookahead"), std::string::npos);
  EXPECT_NE(error_of("(?!a)").find("unsupported construct: lookahead"), std::string::npos);
  EXPECT_NE(error_of("(?<=a)b").find("unsupported construct: lookbehind"), std::string::npos);
  EXPECT_NE(error_of("(a)\\1").find("unsupported construct: backreference"), std::string::npos);
  EXPECT_NE(error_of("(?<n>a)\\k<n>").find("unsupported construct: named backreference"), std::string::npos);
  EXPECT_NE(error_of("\\bx").find("unsupported construct: word boundary"), std::string::npos);
  EXPECT_NE(error_of("\\p{L}").find("unsupported construct: Unicode property escape"), std::string::npos);
  EXPECT_NE(error_of("a^b").find("anchor"), std::string::npos);
  EXPECT_NE(error_of("[]").find("empty set"), std::string::npos);
}

TEST(RegexTest, SyntaxErrors) {
  EXPECT_NE(error_of("(a").find("missing ')'"), std::string::npos);
  EXPECT_NE(error_of("a)").find("unbalanced ')'"), std::string::npos);
  EXPECT_NE(error_of("*a").find("nothing to repeat"), std::string::npos);
  EXPECT_NE(error_of("a**").find("nothing to repeat"), std::string::npos);
  EXPECT_NE(error_of("a{3,2}").find("n < m"), std::string::npos);
  EXPECT_NE(error_of("a{").find("not followed by a quantifier"), std::string::npos);
  EXPECT_NE(error_of("[b-a]").find("out of order"), std::string::npos);
  EXPECT_NE(error_of("\\q").find("invalid escape"), std::string::npos);
  EXPECT_NE(error_of("a{100001}").find("over the limit of 10000"), std::string::npos);
  EXPECT_EQ(error_of("a{100001}").rfind("regex /a{100001}/", 0), 0u);
}

TEST(RegexTest, JsonContentSearchSemantics) {
  EXPECT_EQ(regex_to_json_content("^a$", "c"), "\"a\"");
  EXPECT_EQ(regex_to_json_content("a", "c"), "c* \"a\" c*");
  EXPECT_EQ(regex_to_json_content("^a|b$", "c"), "(\"a\" c* | c* \"b\")");
  // Characters a JSON string must escape are written escaped.
  EXPECT_EQ(regex_to_json_content("^\"\\\\\\n$", "c"), "\"\\\\\\\"\\\\\\\\\\\\n\"");
  EXPECT_EQ(regex_to_json_content("^[\"a]$", "c"), "([a] | \"\\\\\\\"\")");
}

TEST(GbnfTextTest, ChoicesAndLiterals) {
  EXPECT_EQ(choice_gbnf({"yes", "no", "a\"b\\\n"}), "root ::= \"yes\" | \"no\" | \"a\\\"b\\\\\\n\"\n");
  EXPECT_THROW(choice_gbnf({}), Error);
  EXPECT_EQ(gbnf_literal("\x01\x7F日"), "\"\\x01\\x7F日\"");
  EXPECT_EQ(gbnf_class({{'^', '^'}, {'-', '-'}, {']', ']'}}), "[\\-\\]\\x5E]");
  EXPECT_TRUE(gbnf_is_atom("(a (b) \")\")"));
  EXPECT_FALSE(gbnf_is_atom("(a) (b)"));
  EXPECT_TRUE(gbnf_is_atom("[)]"));
  EXPECT_FALSE(gbnf_is_atom("a b"));
}

}  // namespace
}  // namespace qwen3::grammar
