// What a Qwen3 model generates, split into reasoning, answer and tool calls, incrementally:
//
//   <think>\nreasoning\n</think>\n\nanswer text
//   <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>
//
// Feed the decoded text in pieces of any size (a tag may be split anywhere, "</thi" + "nk>");
// each feed() returns what is now certain: reasoning and content deltas and completed tool calls.
// finish() returns the rest at the end of generation. The deltas of any split add up to
// parse_output() of the whole text.
//
// Rules (Qwen3's format, and the inverse of what its chat template does with history):
//   - Reasoning is the text in <think>...</think>. Generation may start inside it (the prompt
//     opened <think>: set `in_reasoning`, see prompt_opens_reasoning) or with <think> (leading
//     whitespace allowed before it); a <think> later in the text is ordinary text. Newlines right
//     after <think> and right before </think> are not part of the reasoning (the template writes
//     them around reasoning_content). When generation stops inside the block, what came is
//     reasoning.
//   - Content is the rest; the newlines right after </think> are dropped (the template puts them
//     back).
//   - <tool_call>{json}</tool_call> with a JSON object {"name": string, "arguments": object or
//     string} is a tool call; whitespace around a tool call is not content. A block that does not
//     parse, or is cut off by the end of generation, stays in the content as it was written.
//     Tool calls are not looked for inside reasoning.
//   - Held back between feeds: only what might be the start of a tag, and a run of whitespace
//     (newlines at the end of reasoning, whitespace at the end of content) until it is known not to
//     border a tag.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

struct ToolCall {
  std::string name;
  // The arguments object as JSON text, written as Python's json.dumps(ensure_ascii=False) writes
  // it ({"city": "Paris"}), which is how the model wrote it; a string given as "arguments" is
  // kept as it is.
  std::string arguments;
  bool operator==(const ToolCall&) const = default;
};

// A delta, or a whole parsed output.
struct ChatOutput {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;

  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
  void append(const ChatOutput& delta);
  bool operator==(const ChatOutput&) const = default;
};

struct OutputParserOptions {
  bool in_reasoning = false;      // generation starts inside <think> (the prompt opened it)
  bool parse_reasoning = true;    // false: <think> is ordinary text
  bool parse_tool_calls = true;   // false: <tool_call> is ordinary text
};

class OutputParser {
 public:
  explicit OutputParser(OutputParserOptions options = {});

  // The text generated since the last call; returns what it completes.
  ChatOutput feed(std::string_view text);
  // End of generation: returns everything still held back. The parser is then done.
  ChatOutput finish();

 private:
  enum class State { Start, Reasoning, Content, ToolCall };
  enum class Lead { Keep, Newlines, Whitespace };  // what to drop at the start of the next text

  void process(bool final, ChatOutput& out);
  void emit_reasoning(std::string_view text, bool closing, ChatOutput& out);
  void emit_content(std::string_view text, bool before_tool_call, bool final, ChatOutput& out);
  void end_tool_call(std::string_view body, ChatOutput& out);

  OutputParserOptions options_;
  State state_;
  std::string buf_;           // text not yet assigned
  Lead reasoning_lead_ = Lead::Newlines;
  std::string reasoning_nl_;  // newlines at the end of the reasoning so far, held back
  Lead content_lead_ = Lead::Keep;
  std::string content_ws_;    // whitespace at the end of the content so far, held back
  std::string tool_ws_;       // the whitespace before the open <tool_call>, content if it is malformed
  size_t tool_scanned_ = 0;   // bytes of buf_ searched for </tool_call> already
};

ChatOutput parse_output(std::string_view text, OutputParserOptions options = {});

// True when the rendered prompt ends inside a <think> block: its last turn (from the last
// <|im_start|>; the whole prompt in a template without ChatML's turns) holds a <think> that is not
// closed after it. Generation then starts in the reasoning, as with Qwen3 thinking templates that
// open the block. "<think>" in an earlier message's text does not count.
bool prompt_opens_reasoning(std::string_view prompt);

}  // namespace qwen3
