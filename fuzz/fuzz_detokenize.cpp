// The real Qwen3 tokenizer on arbitrary input. The first byte picks what the rest is:
//   even: token ids (4 bytes each, little-endian; mostly folded into the vocabulary, a few left
//         raw to hit unknown and negative ids), decoded whole and through StreamingDetokenizer;
//   odd:  text (any bytes, invalid UTF-8 included), encoded, and its ids decoded the same ways.
// Checked: the streaming detokenizer's output equals decode() (its documented contract), and an
// unknown id is a qwen3::Error, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

namespace {

void check_streaming(const qwen3::Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  std::string whole;
  try {
    whole = tok.decode(ids, skip_special);
  } catch (const qwen3::Error&) {
    return;  // an unknown id somewhere
  }
  qwen3::StreamingDetokenizer detok(tok, skip_special);
  std::string streamed;
  for (int32_t id : ids) detok.push(id, streamed);
  streamed += detok.flush();
  if (streamed != whole) {
    std::fprintf(stderr, "streaming detokenizer: %zu bytes streamed, decode() gave %zu\n", streamed.size(), whole.size());
    std::abort();
  }
}

}  // namespace

// Loads the tokenizer before libFuzzer starts timing inputs (seconds under ASan on a busy machine).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)qwen3::fuzz::qwen3_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const qwen3::Tokenizer& tok = qwen3::fuzz::qwen3_tokenizer();
  const uint8_t mode = data[0];
  ++data, --size;
  std::vector<int32_t> ids;
  if (mode % 2 == 0) {
    const uint32_t range = static_cast<uint32_t>(tok.vocab_size()) + 4;  // a few past the end
    for (size_t i = 0; i + 4 <= size; i += 4) {
      uint32_t raw;
      std::memcpy(&raw, data + i, 4);
      ids.push_back((raw >> 28) == 0xf ? static_cast<int32_t>(raw) : static_cast<int32_t>(raw % range));
    }
    // Each id on its own, as the server's logprobs and /detokenize do.
    for (int32_t id : ids) {
      try {
        (void)tok.token_bytes(id);
        (void)tok.id_to_token(id);
        (void)tok.is_special(id);
      } catch (const qwen3::Error&) {
      }
    }
  } else {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    tok.encode(text, ids);
    for (int32_t id : ids)
      if (!tok.contains(id)) std::abort();  // encode only produces ids of the vocabulary
  }
  check_streaming(tok, ids, false);
  check_streaming(tok, ids, true);
  return 0;
}
