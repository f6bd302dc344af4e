// The model-output parser (<think> reasoning, <tool_call> blocks) fed in arbitrary chunks.
// Input: one byte of options, one byte n, n bytes of chunk lengths (used in turn, 0 meaning 1),
// then the text. Checked: the deltas of the chunked feed add up to parse_output() of the whole
// text, as output_parser.h promises for any split.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "chat/output_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const qwen3::OutputParserOptions options{
      .in_reasoning = (data[0] & 1) != 0,
      .parse_reasoning = (data[0] & 2) == 0,
      .parse_tool_calls = (data[0] & 4) == 0,
  };
  const size_t n_lengths = data[1];
  if (size < 2 + n_lengths) return 0;
  const uint8_t* lengths = data + 2;
  const std::string_view text(reinterpret_cast<const char*>(data + 2 + n_lengths), size - 2 - n_lengths);

  qwen3::OutputParser parser(options);
  qwen3::ChatOutput chunked;
  size_t pos = 0;
  for (size_t i = 0; pos < text.size(); ++i) {
    const size_t len = n_lengths ? (lengths[i % n_lengths] ? lengths[i % n_lengths] : 1) : text.size();
    const std::string_view piece = text.substr(pos, len);
    pos += piece.size();
    chunked.append(parser.feed(piece));
  }
  chunked.append(parser.finish());

  const qwen3::ChatOutput whole = qwen3::parse_output(text, options);
  if (!(chunked == whole)) {
    std::fprintf(stderr, "chunked feed differs from parse_output: reasoning %zu/%zu, content %zu/%zu, tool calls %zu/%zu\n",
                 chunked.reasoning.size(), whole.reasoning.size(), chunked.content.size(), whole.content.size(),
                 chunked.tool_calls.size(), whole.tool_calls.size());
    std::abort();
  }
  (void)qwen3::prompt_opens_reasoning(text);
  return 0;
}
