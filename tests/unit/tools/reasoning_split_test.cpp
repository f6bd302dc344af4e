#include <gtest/gtest.h>

#include "tools/reasoning_split.h"

namespace qwen3::tools {
namespace {

struct Parts {
  std::string reasoning, content;
};

Parts run(const std::vector<std::string>& pieces, bool in_reasoning = false) {
  ReasoningSplit s(in_reasoning);
  Parts p;
  auto take = [&](const std::vector<std::pair<bool, std::string>>& out) {
    for (auto& [r, t] : out) (r ? p.reasoning : p.content) += t;
  };
  for (auto& piece : pieces) take(s.push(piece));
  take(s.flush());
  return p;
}

TEST(ReasoningSplit, EverySplitPointGivesTheSameResult) {
  const std::string text = "<think>\nLet me see: 2 < 3.\n</think>\n\nThe answer is <b>yes</b>.";
  const Parts whole = run({text});
  EXPECT_EQ(whole.reasoning, "\nLet me see: 2 < 3.\n");
  EXPECT_EQ(whole.content, "\n\nThe answer is <b>yes</b>.");
  for (size_t i = 0; i <= text.size(); ++i)
    for (size_t j = i; j <= text.size(); j += 7) {
      Parts p = run({text.substr(0, i), text.substr(i, j - i), text.substr(j)});
      EXPECT_EQ(p.reasoning, whole.reasoning) << i << " " << j;
      EXPECT_EQ(p.content, whole.content) << i << " " << j;
    }
  // One character at a time.
  std::vector<std::string> chars;
  for (char c : text) chars.emplace_back(1, c);
  Parts p = run(chars);
  EXPECT_EQ(p.reasoning, whole.reasoning);
  EXPECT_EQ(p.content, whole.content);
}

TEST(ReasoningSplit, PromptOpenedTheBlockAndStopInsideIt) {
  Parts p = run({"thinking...", "</thi", "nk>answer"}, /*in_reasoning=*/true);
  EXPECT_EQ(p.reasoning, "thinking...");
  EXPECT_EQ(p.content, "answer");
  Parts q = run({"<think>never closed </thi"});  // generation stopped inside the block
  EXPECT_EQ(q.reasoning, "never closed </thi");
  EXPECT_EQ(q.content, "");
  Parts r = run({"no tags at all <"});
  EXPECT_EQ(r.content, "no tags at all <");
}

TEST(ReasoningSplit, HoldsBackOnlyAPossibleTag) {
  ReasoningSplit s;
  auto out = s.push("abc<th");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].second, "abc");
  out = s.push("x");  // "<thx" cannot be a tag any more
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].second, "<thx");
}

}  // namespace
}  // namespace qwen3::tools
