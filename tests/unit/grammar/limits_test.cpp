// GrammarLimits: each bound, just under it (compiles) and just over it (an error naming it).
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "grammar/grammar.h"

namespace qwen3::grammar {
namespace {

std::string error_of(const std::string& g, const GrammarLimits& limits) {
  try {
    compile_grammar(g, limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GrammarLimits, MaxTextBytes) {
  GrammarLimits l;
  l.max_text_bytes = 18;
  EXPECT_EQ(error_of(R"(root ::= "abcdefg")", l), "");  // 18 bytes
  EXPECT_NE(error_of(R"(root ::= "abcdefgh")", l).find("limit max_text_bytes exceeded"), std::string::npos);
}

TEST(GrammarLimits, MaxRules) {
  GrammarLimits l;
  l.max_rules = 3;
  EXPECT_EQ(error_of("root ::= a b\na ::= \"a\"\nb ::= \"b\"", l), "");
  std::string msg = error_of("root ::= a b c\na ::= \"a\"\nb ::= \"b\"\nc ::= \"c\"", l);
  EXPECT_NE(msg.find("grammar:1:14: limit max_rules exceeded"), std::string::npos) << msg;
}

TEST(GrammarLimits, MaxRepetition) {
  GrammarLimits l;
  EXPECT_EQ(error_of(R"(root ::= "a"{0,10000})", l), "");
  std::string msg = error_of(R"(root ::= "a"{0,100000})", l);
  EXPECT_NE(msg.find("grammar:1:16: limit max_repetition exceeded"), std::string::npos) << msg;
  l.max_repetition = 5;
  EXPECT_NE(error_of(R"(root ::= "a"{6})", l).find("limit max_repetition exceeded"), std::string::npos);
}

TEST(GrammarLimits, MaxStates) {
  GrammarLimits l;
  l.max_states = 1000;
  EXPECT_EQ(error_of(R"(root ::= ("ab"){0,100})", l), "");
  // Nested repetitions multiply: 100 x 100 copies.
  std::string msg = error_of(R"(root ::= (("ab"){0,100}){100})", l);
  EXPECT_NE(msg.find("limit max_states exceeded (more than 1000 automaton states)"), std::string::npos) << msg;
}

TEST(GrammarLimits, MaxEdges) {
  GrammarLimits l;
  l.max_edges = 200;
  EXPECT_EQ(error_of(R"(root ::= [a-z]{10})", l), "");
  std::string msg = error_of(R"(root ::= [^a]{30})", l);  // a UTF-8 class has several byte sequences
  EXPECT_NE(msg.find("limit max_edges exceeded"), std::string::npos) << msg;
}

TEST(GrammarLimits, MaxStackDepth) {
  GrammarLimits l;
  l.max_stack_depth = 4;
  auto g = compile_grammar("root ::= \"[\" root? \"]\"", l);
  Matcher m(g);
  EXPECT_TRUE(m.accept_bytes("[[[["));
  EXPECT_FALSE(m.accept_bytes("["));  // a fifth open call
  EXPECT_TRUE(m.accept_bytes("]]]]"));
  EXPECT_TRUE(m.can_end());
}

}  // namespace
}  // namespace qwen3::grammar
