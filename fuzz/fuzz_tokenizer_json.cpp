// tokenizer.json from arbitrary bytes: Tokenizer::from_json, and when it loads, a short string
// encoded and its ids decoded (plain and streaming) and looked up.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    const qwen3::Tokenizer tok = qwen3::Tokenizer::from_json(json, "fuzz/tokenizer.json");
    const auto ids = tok.encode("Hello, world! <|im_start|>user\n 123 héllo\xff wörld \xe4\xb8\xad");
    (void)tok.decode(ids);
    (void)tok.decode(ids, /*skip_special_tokens=*/true);
    qwen3::StreamingDetokenizer detok(tok);
    for (int32_t id : ids) {
      (void)detok.push(id);
      (void)tok.id_to_token(id);
      (void)tok.token_bytes(id);
      (void)tok.is_special(id);
    }
    (void)detok.flush();
    for (const auto& t : tok.added_tokens()) (void)tok.token_to_id(t.content);
    (void)tok.contains(tok.vocab_size() - 1);
  } catch (const qwen3::Error&) {
  }
  return 0;
}
