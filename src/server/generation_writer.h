// Turns one request's engine deltas into OpenAI responses: chat or completions, streamed as SSE
// chunks or gathered into one object. Per choice it runs the reasoning / tool-call parser (chat)
// and collects logprobs. No HTTP here: the caller writes what it returns.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "chat/output_parser.h"
#include "engine/engine.h"
#include "server/openai_api.h"

namespace qwen3::server {

enum class Endpoint { Chat, Completion };

struct GenerationInfo {
  Endpoint endpoint = Endpoint::Chat;
  std::string id;            // chatcmpl-... / cmpl-...
  std::string model;
  int64_t created = 0;       // unix seconds
  bool stream = false, include_usage = false;
  bool logprobs = false;
  bool prompt_opens_reasoning = false;  // chat: generation starts inside <think>
  bool parse_tool_calls = false;        // chat: tools were given
  int64_t prompt_tokens = 0;
  int n = 1;
};

class GenerationWriter {
 public:
  GenerationWriter(const Tokenizer& tok, GenerationInfo info);
  // SSE text for the start of a stream (chat: the role of each choice); empty otherwise.
  std::string begin();
  // SSE text for these deltas when streaming (possibly empty); gathers them otherwise.
  std::string add(std::vector<engine::ChoiceDelta>& deltas);
  // The end: the final SSE events and [DONE], or the whole JSON response.
  std::string finish();

  int64_t completion_tokens() const;
  bool all_finished() const;
  std::string finish_reasons() const;  // "stop,length" for the log line

 private:
  struct Choice {
    OutputParser parser;
    ChatOutput all;               // chat, gathered
    std::string text;             // completions, gathered
    std::vector<engine::TokenInfo> tokens;  // gathered, for logprobs
    int tool_calls = 0;
    int64_t generated = 0, text_offset = 0;
    bool finished = false;
    engine::FinishReason reason = engine::FinishReason::Error;
  };
  std::string sse(const Json& chunk) const;
  Json chunk_base() const;
  std::string add_chat(Choice& c, engine::ChoiceDelta& d);
  std::string add_completion(Choice& c, engine::ChoiceDelta& d);
  Json usage() const;

  const Tokenizer& tok_;
  GenerationInfo info_;
  std::vector<Choice> choices_;
  std::string call_prefix_;
  int64_t cached_tokens_ = 0;  // usage.prompt_tokens_details.cached_tokens, from the deltas
};

}  // namespace qwen3::server
