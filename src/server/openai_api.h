// OpenAI's JSON <-> the engine's structs: request parsing with validation (every problem is an
// ApiError carrying the HTTP status and OpenAI's error type), and the response objects.
// No HTTP and no tensors here.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "chat/output_parser.h"
#include "engine/engine.h"
#include "engine/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::server {

using Json = nlohmann::ordered_json;

// An error the client caused (or a busy server), as OpenAI reports it:
// {"error": {"message", "type", "param", "code"}} with `status`.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {});
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  Json to_json() const;
  static const char* type_for(int status);  // invalid_request_error, authentication_error, ...

 private:
  int status_;
  std::string param_, code_;
};

// Parses a request body: at most `max_depth` nested arrays/objects (checked before parsing, so a
// hostile body cannot exhaust the stack), JSON with valid UTF-8, an object. Throws ApiError 400.
Json parse_body(std::string_view body, int max_depth = 64);

struct ApiDefaults {
  engine::SamplingParams sampling;  // from generation_config.json
  std::string model_name;
};

// Whether obj[key] is the string `want`: false where obj is not an object, has no such member, or
// holds another type there (nlohmann's value(key, "") throws a type_error for that, which the server
// would answer with 500 instead of the client's 400).
bool member_is(const Json& obj, const char* key, std::string_view want);

// A request's "model", when given, must be the served one (400 model_not_found).
void check_model(const Json& body, const ApiDefaults& defaults);

struct ChatRequest {
  Json messages;                      // normalised: content parts joined into one string
  Json tools;                         // null when none (or tool_choice "none")
  bool enable_thinking = true;
  Json template_kwargs;               // chat_template_kwargs without enable_thinking (null if none)
  bool stream = false, include_usage = false;
  std::optional<int64_t> max_tokens;  // absent: up to the context
  engine::SamplingParams params;
};
ChatRequest parse_chat_request(const Json& body, const ApiDefaults& defaults);

// The distribution fields of a request onto `p` (which holds the defaults): temperature, top_p,
// top_k, min_p, presence / frequency / repetition penalties and seed, each checked against its range
// (ApiError 400 naming it). The CLI's sampling flags go through it too (tools/sampling_flags.h).
void parse_distribution(const Json& body, engine::SamplingParams& p);

struct CompletionRequest {
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_ids;    // when the prompt was given as token ids
  bool stream = false, include_usage = false;
  std::optional<int64_t> max_tokens;
  engine::SamplingParams params;
};
CompletionRequest parse_completion_request(const Json& body, const ApiDefaults& defaults);

// Logprobs in OpenAI's two shapes, from the engine's TokenInfo.
Json chat_logprobs(const Tokenizer& tok, const std::vector<engine::TokenInfo>& tokens);
// Completions' {tokens, token_logprobs, top_logprobs, text_offset}; `offset` is the text length so
// far (updated).
Json completion_logprobs(const Tokenizer& tok, const std::vector<engine::TokenInfo>& tokens, int64_t& offset);

Json tool_calls_json(const std::vector<ToolCall>& calls, int first_index, const std::string& id_prefix);

// "stop" | "length" | "tool_calls" (OpenAI) ; cancelled and error report "abort" as vLLM does.
const char* finish_reason_string(engine::FinishReason r, bool has_tool_calls);

// A fresh id: "chatcmpl-" + 24 hex digits, etc.
std::string random_id(std::string_view prefix);

// JSON text safe to send whatever it holds (invalid UTF-8 would be replaced, never thrown).
std::string dump(const Json& j);

}  // namespace qwen3::server
