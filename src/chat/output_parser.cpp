#include "chat/output_parser.h"

#include <nlohmann/json.hpp>

#include "jinja/value.h"
#include "core/json_file.h"

namespace qwen3 {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kToolOpen = "<tool_call>";
constexpr std::string_view kToolClose = "</tool_call>";

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Length of the longest suffix of `s` that is a proper prefix of `tag`: text that may become the
// tag when more arrives.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

size_t trailing_run(std::string_view s, bool (*pred)(char)) {
  size_t n = 0;
  while (n < s.size() && pred(s[s.size() - 1 - n])) ++n;
  return n;
}

bool is_newline(char c) { return c == '\n'; }

// Nesting a tool call's arguments may have: the conversion to the template's values and back is
// recursive, and the body is model output (untrusted).
constexpr int kMaxToolCallDepth = 64;

// Parses a tool call body; false when it is not {"name": string, "arguments": object|string}
// (including JSON that nlohmann rejects in any way, e.g. a number out of a double's range).
bool parse_tool_call(std::string_view body, ToolCall& call) {
  if (json_nested_deeper_than(body, kMaxToolCallDepth)) return false;
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(body);
  } catch (const nlohmann::ordered_json::exception&) {
    return false;
  }
  if (!j.is_object()) return false;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()) return false;
  auto args = j.find("arguments");
  if (args == j.end()) args = j.find("parameters");  // the name some other models use
  if (args == j.end()) {
    call.arguments = "{}";
  } else if (args->is_string()) {
    call.arguments = args->get<std::string>();
  } else if (args->is_object()) {
    call.arguments = jinja::json_dumps(jinja::Value::from_json(*args));
  } else {
    return false;
  }
  call.name = name->get<std::string>();
  return true;
}

}  // namespace

void ChatOutput::append(const ChatOutput& delta) {
  reasoning += delta.reasoning;
  content += delta.content;
  tool_calls.insert(tool_calls.end(), delta.tool_calls.begin(), delta.tool_calls.end());
}

OutputParser::OutputParser(OutputParserOptions options)
    : options_(options),
      state_(options.in_reasoning && options.parse_reasoning ? State::Reasoning
             : options.parse_reasoning                        ? State::Start
                                                              : State::Content) {}

ChatOutput OutputParser::feed(std::string_view text) {
  buf_.append(text);
  ChatOutput out;
  process(false, out);
  return out;
}

ChatOutput OutputParser::finish() {
  ChatOutput out;
  process(true, out);
  return out;
}

void OutputParser::process(bool final, ChatOutput& out) {
  while (true) {
    switch (state_) {
      case State::Start: {
        // Only whitespace may come before <think>; wait until it is clear whether it does.
        size_t i = 0;
        while (i < buf_.size() && is_ws(buf_[i])) ++i;
        const std::string_view rest = std::string_view(buf_).substr(i);
        if (rest.substr(0, kThinkOpen.size()) == kThinkOpen) {
          buf_.erase(0, i + kThinkOpen.size());
          state_ = State::Reasoning;
          continue;
        }
        if (!final && kThinkOpen.substr(0, rest.size()) == rest) return;  // may still become <think>
        state_ = State::Content;
        continue;
      }
      case State::Reasoning: {
        const size_t close = buf_.find(kThinkClose);
        if (close != std::string::npos) {
          emit_reasoning(std::string_view(buf_).substr(0, close), true, out);
          buf_.erase(0, close + kThinkClose.size());
          state_ = State::Content;
          content_lead_ = Lead::Newlines;
          continue;
        }
        const size_t hold = final ? 0 : partial_tag_suffix(buf_, kThinkClose);
        emit_reasoning(std::string_view(buf_).substr(0, buf_.size() - hold), final, out);
        buf_.erase(0, buf_.size() - hold);
        return;
      }
      case State::Content: {
        if (options_.parse_tool_calls) {
          const size_t open = buf_.find(kToolOpen);
          if (open != std::string::npos) {
            emit_content(std::string_view(buf_).substr(0, open), true, false, out);
            buf_.erase(0, open + kToolOpen.size());
            state_ = State::ToolCall;
            tool_scanned_ = 0;
            continue;
          }
        }
        const size_t hold = (final || !options_.parse_tool_calls) ? 0 : partial_tag_suffix(buf_, kToolOpen);
        emit_content(std::string_view(buf_).substr(0, buf_.size() - hold), false, final, out);
        buf_.erase(0, buf_.size() - hold);
        return;
      }
      case State::ToolCall: {
        const size_t from = tool_scanned_ >= kToolClose.size() ? tool_scanned_ - kToolClose.size() + 1 : 0;
        const size_t close = buf_.find(kToolClose, from);
        if (close != std::string::npos) {
          end_tool_call(std::string_view(buf_).substr(0, close), out);
          buf_.erase(0, close + kToolClose.size());
          state_ = State::Content;
          continue;
        }
        tool_scanned_ = buf_.size();
        if (!final) return;
        // Cut off by the end of generation: the text stays content, as written.
        std::string raw = tool_ws_ + std::string(kToolOpen) + buf_;
        buf_.clear();
        state_ = State::Content;
        content_lead_ = Lead::Keep;
        emit_content(raw, false, true, out);
        return;
      }
    }
  }
}

void OutputParser::emit_reasoning(std::string_view text, bool closing, ChatOutput& out) {
  if (reasoning_lead_ == Lead::Newlines) {
    while (!text.empty() && text.front() == '\n') text.remove_prefix(1);
    if (text.empty()) return;
    reasoning_lead_ = Lead::Keep;
  }
  std::string s = reasoning_nl_;
  s.append(text);
  const size_t nl = trailing_run(s, is_newline);
  reasoning_nl_ = closing ? "" : s.substr(s.size() - nl);
  s.resize(s.size() - nl);
  out.reasoning += s;
}

void OutputParser::emit_content(std::string_view text, bool before_tool_call, bool final, ChatOutput& out) {
  if (content_lead_ != Lead::Keep) {
    const bool all_ws = content_lead_ == Lead::Whitespace;
    while (!text.empty() && (all_ws ? is_ws(text.front()) : text.front() == '\n')) text.remove_prefix(1);
    if (text.empty() && !before_tool_call) return;
    content_lead_ = Lead::Keep;
  }
  std::string s = content_ws_;
  s.append(text);
  content_ws_.clear();
  if (before_tool_call) {
    const size_t ws = trailing_run(s, is_ws);
    tool_ws_ = s.substr(s.size() - ws);
    s.resize(s.size() - ws);
  } else if (!final && options_.parse_tool_calls) {
    const size_t ws = trailing_run(s, is_ws);
    content_ws_ = s.substr(s.size() - ws);
    s.resize(s.size() - ws);
  }
  out.content += s;
}

void OutputParser::end_tool_call(std::string_view body, ChatOutput& out) {
  ToolCall call;
  if (parse_tool_call(body, call)) {
    out.tool_calls.push_back(std::move(call));
    tool_ws_.clear();
    content_lead_ = Lead::Whitespace;
    return;
  }
  // Not a tool call after all: the text, with the whitespace before it, is content.
  std::string raw = tool_ws_ + std::string(kToolOpen) + std::string(body) + std::string(kToolClose);
  tool_ws_.clear();
  content_lead_ = Lead::Keep;
  emit_content(raw, false, false, out);
}

ChatOutput parse_output(std::string_view text, OutputParserOptions options) {
  OutputParser parser(options);
  ChatOutput out = parser.feed(text);
  out.append(parser.finish());
  return out;
}

bool prompt_opens_reasoning(std::string_view prompt) {
  // Only the last turn (the generation prompt, or a final message the model continues) can open the
  // block the model writes into: a message may hold "<think>" as text.
  constexpr std::string_view kTurnOpen = "<|im_start|>";
  if (const size_t turn = prompt.rfind(kTurnOpen); turn != std::string_view::npos) prompt.remove_prefix(turn);
  const size_t open = prompt.rfind(kThinkOpen);
  if (open == std::string_view::npos) return false;
  const size_t close = prompt.rfind(kThinkClose);
  return close == std::string_view::npos || close < open;
}

}  // namespace qwen3
