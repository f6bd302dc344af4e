// The server's response writer (GenerationWriter) driven without an engine: the input is a script
// of deltas for a request's choices. Byte 0: options (chat or completions, stream, usage, logprobs,
// reasoning, tools), byte 1: n (1..4). Then records: [choice][text length][finish][token count]
// [text][token ids, 2 bytes each]. Checked: every SSE event is `data: <JSON object>\n\n` or
// `data: [DONE]\n\n` (the last one), and a non-streamed response is one JSON object.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "fuzz_util.h"
#include "server/generation_writer.h"

namespace server = qwen3::server;
namespace engine = qwen3::engine;

namespace {

[[noreturn]] void bad(const char* what, std::string_view text) {
  std::fprintf(stderr, "generation writer: %s in:\n%.*s\n", what, static_cast<int>(std::min<size_t>(text.size(), 2000)), text.data());
  std::abort();
}

void check_object(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) bad("not a JSON object", text);
}

// `sse` is a sequence of events "data: ...\n\n"; [DONE] only as the last one, and only at the end.
void check_sse(std::string_view sse, bool done_expected) {
  bool done = false;
  while (!sse.empty()) {
    if (done) bad("an event after [DONE]", sse);
    if (!sse.starts_with("data: ")) bad("an event not starting with 'data: '", sse);
    const size_t end = sse.find("\n\n");
    if (end == std::string_view::npos) bad("an event not ending in a blank line", sse);
    const std::string_view payload = sse.substr(6, end - 6);
    if (payload.find('\n') != std::string_view::npos) bad("a newline inside an event", sse);
    if (payload == "[DONE]") done = true;
    else check_object(payload);
    sse.remove_prefix(end + 2);
  }
  if (done != done_expected) bad(done_expected ? "no [DONE] at the end" : "[DONE] too early", sse);
}

}  // namespace

// Loads the tokenizer before libFuzzer starts timing inputs (seconds under ASan on a busy machine).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)qwen3::fuzz::qwen3_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const qwen3::Tokenizer& tok = qwen3::fuzz::qwen3_tokenizer();
  const uint8_t opt = data[0];
  server::GenerationInfo info{
      .endpoint = (opt & 1) ? server::Endpoint::Completion : server::Endpoint::Chat,
      .id = "chatcmpl-fuzz", .model = "qwen3-fuzz", .created = 1700000000,
      .stream = (opt & 2) != 0, .include_usage = (opt & 4) != 0, .logprobs = (opt & 8) != 0,
      .prompt_opens_reasoning = (opt & 16) != 0, .parse_tool_calls = (opt & 32) != 0,
      .prompt_tokens = 7, .n = 1 + data[1] % 4,
  };
  data += 2, size -= 2;

  server::GenerationWriter w(tok, info);
  std::string stream = w.begin();
  std::vector<bool> finished(info.n, false);
  std::vector<engine::ChoiceDelta> deltas;
  while (size >= 4) {
    const int index = data[0] % info.n;
    const size_t text_len = std::min<size_t>(data[1], size - 4);
    const uint8_t finish = data[2];
    size_t n_tokens = data[3] % 8;
    data += 4, size -= 4;
    engine::ChoiceDelta d;
    d.index = index;
    d.text.assign(reinterpret_cast<const char*>(data), text_len);
    data += text_len, size -= text_len;
    for (; n_tokens > 0 && size >= 2; --n_tokens, data += 2, size -= 2) {
      engine::TokenInfo t;
      t.token = static_cast<int32_t>((data[0] | data[1] << 8) * 3 % tok.vocab_size());
      t.logprob = -static_cast<float>(data[1]) / 16;
      if (data[0] & 1) t.top.push_back({.token = t.token, .logprob = t.logprob});
      d.tokens.push_back(std::move(t));
    }
    if (finished[index]) continue;  // the engine sends nothing for a choice after its end
    if (finish < 4) {
      d.finish = static_cast<engine::FinishReason>(finish);
      finished[index] = true;
    }
    deltas.push_back(std::move(d));
    if (finish & 0x80 || size < 4) {  // a batch of deltas ends here
      const std::string out = w.add(deltas);
      deltas.clear();
      if (!info.stream && !out.empty()) bad("output before the end of a non-streamed response", out);
      stream += out;
    }
  }
  for (int i = 0; i < info.n; ++i)  // the engine always ends every choice
    if (!finished[i]) deltas.push_back({.index = i, .text = {}, .tokens = {}, .finish = engine::FinishReason::Length});
  stream += w.add(deltas);
  if (!w.all_finished()) bad("not all finished after every choice's finish", w.finish_reasons());
  const std::string end = w.finish();
  if (info.stream) {
    check_sse(stream + end, true);
  } else {
    if (!stream.empty()) bad("output before the end of a non-streamed response", stream);
    check_object(end);
  }
  (void)w.completion_tokens();
  return 0;
}
