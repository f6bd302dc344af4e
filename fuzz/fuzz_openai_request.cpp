// The OpenAI request parser: a request body through parse_body, then parse_chat_request and
// parse_completion_request. ApiError (the client's mistake, with an HTTP status) is the expected
// failure; ChatOutput/tool-call JSON and dump() are exercised on what parses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "server/openai_api.h"

namespace server = qwen3::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static const server::ApiDefaults defaults{.sampling = {}, .model_name = "m"};  // the seeds' "model"
  server::Json j;
  try {
    j = server::parse_body(body);
  } catch (const server::ApiError& e) {
    (void)server::dump(e.to_json());
    return 0;
  }
  try {
    const server::ChatRequest r = server::parse_chat_request(j, defaults);
    (void)server::dump(r.messages);
    (void)server::dump(r.tools);
    (void)server::dump(r.template_kwargs);
  } catch (const server::ApiError& e) {
    (void)server::dump(e.to_json());
  }
  try {
    const server::CompletionRequest r = server::parse_completion_request(j, defaults);
    (void)r;
  } catch (const server::ApiError& e) {
    (void)server::dump(e.to_json());
  }
  (void)server::dump(j);
  return 0;
}
