// Reasoning / tool-call parsing of generated text, whole and streamed: for sample outputs, every
// split into two pieces, and one-byte pieces, give deltas that add up to the whole parse.
#include <gtest/gtest.h>

#include "chat/output_parser.h"

namespace qwen3 {

// For GoogleTest's messages.
void PrintTo(const ChatOutput& o, std::ostream* os) {
  *os << "{reasoning: \"" << o.reasoning << "\", content: \"" << o.content << "\", tool_calls: [";
  for (const auto& c : o.tool_calls) *os << c.name << "(" << c.arguments << ") ";
  *os << "]}";
}

namespace {

ChatOutput parse(std::string_view text, OutputParserOptions o = {}) { return parse_output(text, o); }

ChatOutput out(std::string reasoning, std::string content, std::vector<ToolCall> calls = {}) {
  return ChatOutput{std::move(reasoning), std::move(content), std::move(calls)};
}

// Streams `text` in pieces cut at `cuts` (increasing byte offsets) and returns the sum of deltas.
ChatOutput stream(std::string_view text, const std::vector<size_t>& cuts, OutputParserOptions o = {}) {
  OutputParser p(o);
  ChatOutput sum;
  size_t at = 0;
  for (size_t c : cuts) {
    sum.append(p.feed(text.substr(at, c - at)));
    at = c;
  }
  sum.append(p.feed(text.substr(at)));
  sum.append(p.finish());
  return sum;
}

void expect_split_invariant(std::string_view text, OutputParserOptions o = {}) {
  const ChatOutput whole = parse(text, o);
  for (size_t i = 0; i <= text.size(); ++i) {
    EXPECT_EQ(stream(text, {i}, o), whole) << "split at " << i << " of " << text;
    for (size_t j = i; j <= text.size(); j += 3) {
      EXPECT_EQ(stream(text, {i, j}, o), whole) << "split at " << i << ", " << j << " of " << text;
    }
  }
  std::vector<size_t> bytes;
  for (size_t i = 1; i < text.size(); ++i) bytes.push_back(i);
  EXPECT_EQ(stream(text, bytes, o), whole) << "one byte at a time: " << text;
}

TEST(OutputParser, ReasoningThenAnswer) {
  EXPECT_EQ(parse("<think>\nLet me think.\nYes.\n</think>\n\nThe answer is 4."),
            out("Let me think.\nYes.", "The answer is 4."));
  EXPECT_EQ(parse("\n <think>x</think>y"), out("x", "y"));           // whitespace before <think>
  EXPECT_EQ(parse("<think>\n\n</think>\n\nHi"), out("", "Hi"));      // empty block (enable_thinking=false echo)
  EXPECT_EQ(parse("Plain answer."), out("", "Plain answer."));
  EXPECT_EQ(parse("Answer with <think> later</think>."), out("", "Answer with <think> later</think>."));
  EXPECT_EQ(parse("  spaced answer\n"), out("", "  spaced answer\n"));
}

TEST(OutputParser, PromptOpenedReasoning) {
  OutputParserOptions o;
  o.in_reasoning = true;
  EXPECT_EQ(parse("Thinking...\n</think>\n\nDone.", o), out("Thinking...", "Done."));
  // Generation stopped inside the reasoning: all of it is reasoning.
  EXPECT_EQ(parse("Still thinking\n", o), out("Still thinking", ""));
  EXPECT_EQ(parse("<think>\nunfinished", {}), out("unfinished", ""));
  EXPECT_EQ(parse("cut in the tag </thi", o), out("cut in the tag </thi", ""));
  EXPECT_TRUE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n"));
  // A user's message that mentions the tag opens nothing: only the last turn counts (the server
  // had put the whole answer into reasoning_content).
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>user\nWhat does the <think> tag do?<|im_end|>\n<|im_start|>assistant\n"));
  EXPECT_FALSE(prompt_opens_reasoning(
      "<|im_start|>user\n</think> and <think><|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  // A final assistant message that the model continues, inside its reasoning.
  EXPECT_TRUE(prompt_opens_reasoning("<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nLet me see"));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>user\n<think>\n"
                                      "<|im_end|>\n<|im_start|>assistant\n<think>\nShort.\n</think>\n\nA"));
  // No ChatML turns (a raw prompt): the whole text decides.
  EXPECT_TRUE(prompt_opens_reasoning("Question?\n<think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<think>a</think> b"));
}

TEST(OutputParser, ToolCalls) {
  const std::string text =
      "<think>\nNeed weather.\n</think>\n\n"
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", \"days\": 2, \"x\": 1.0}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"search\", \"arguments\": \"{\\\"q\\\": 1}\"}\n</tool_call>";
  EXPECT_EQ(parse(text), out("Need weather.", "",
                             {{"get_weather", "{\"city\": \"Zürich\", \"days\": 2, \"x\": 1.0}"}, {"search", "{\"q\": 1}"}}));
  // Content around tool calls, without the whitespace that borders them.
  EXPECT_EQ(parse("Let me check.\n<tool_call>\n{\"name\": \"f\"}\n</tool_call>\n\nMore."),
            out("", "Let me check.More.", {{"f", "{}"}}));
  EXPECT_EQ(parse("<tool_call>{\"name\": \"f\", \"parameters\": {\"a\": [1, {}]}}</tool_call>"),
            out("", "", {{"f", "{\"a\": [1, {}]}"}}));
}

TEST(OutputParser, MalformedToolCallsStayText) {
  EXPECT_EQ(parse("A\n<tool_call>\nnot json\n</tool_call> B"), out("", "A\n<tool_call>\nnot json\n</tool_call> B"));
  EXPECT_EQ(parse("<tool_call>{\"arguments\": {}}</tool_call>"), out("", "<tool_call>{\"arguments\": {}}</tool_call>"));
  EXPECT_EQ(parse("<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>"),
            out("", "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>"));
  // Cut off by the end of generation.
  EXPECT_EQ(parse("Text\n<tool_call>\n{\"name\": \"f\", \"argu"), out("", "Text\n<tool_call>\n{\"name\": \"f\", \"argu"));
  EXPECT_EQ(parse("ends with <tool_ca"), out("", "ends with <tool_ca"));
}

// Model output is untrusted: a number JSON cannot hold as a double (nlohmann throws out_of_range,
// which escaped feed() and would have ended the server's process) and nesting past any stack.
TEST(OutputParser, HostileToolCallsStayText) {
  const std::string overflow = "<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": 1e400}}</tool_call>";
  EXPECT_EQ(parse(overflow), out("", overflow));
  const std::string deep = "<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": " + std::string(100000, '[') +
                           std::string(100000, ']') + "}}</tool_call>";
  EXPECT_EQ(parse(deep), out("", deep));
}

TEST(OutputParser, Options) {
  OutputParserOptions plain;
  plain.parse_reasoning = false;
  plain.parse_tool_calls = false;
  const std::string text = "<think>a</think>\n<tool_call>{\"name\": \"f\"}</tool_call>";
  EXPECT_EQ(parse(text, plain), out("", text));
  OutputParserOptions no_tools;
  no_tools.parse_tool_calls = false;
  EXPECT_EQ(parse(text, no_tools), out("a", "<tool_call>{\"name\": \"f\"}</tool_call>"));
}

TEST(OutputParser, HoldsBackOnlyPossibleTags) {
  OutputParser p;
  EXPECT_EQ(p.feed("<thi"), out("", ""));
  EXPECT_EQ(p.feed("nk>\nStep 1"), out("Step 1", ""));
  EXPECT_EQ(p.feed(". </thi"), out(". ", ""));  // "</thi" waits
  EXPECT_EQ(p.feed("nk>\n\nHello <b>"), out("", "Hello <b>"));
  EXPECT_EQ(p.feed(" world <tool"), out("", " world"));
  EXPECT_EQ(p.feed("s>!"), out("", " <tools>!"));
  EXPECT_EQ(p.finish(), out("", ""));
}

TEST(OutputParser, EverySplitPointGivesTheSameResult) {
  const char* samples[] = {
      "<think>\nThe user wants 2+2.\n\nIt is 4.\n</think>\n\nThe answer is **4**.\n",
      "\n<think>short</think>answer",
      "<think>\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"東京\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"a</tool_call>b\"}}\n</tool_call>",
      "Before <tool_call>broken</tool_call> after <tool_call>\n{\"name\": \"f\"}\n</tool_call>\n\ntail  ",
      "No tags at all, just < and <t and </ and <think without end",
      "<tool_call>\n{\"name\": \"cut\", \"arg",
      "<think>\nunterminated reasoning\n\n",
      "   ",
      "",
  };
  for (const char* s : samples) expect_split_invariant(s);
  OutputParserOptions in_reasoning;
  in_reasoning.in_reasoning = true;
  expect_split_invariant("reasoning\n</think>\n\nanswer\n<tool_call>{\"name\": \"f\"}</tool_call>", in_reasoning);
  expect_split_invariant("\n\nreasoning </think", in_reasoning);
}

}  // namespace
}  // namespace qwen3
