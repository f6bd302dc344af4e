// UTF-8 helpers shared by encode and decode. Invalid input is repaired exactly the way Rust's
// String::from_utf8_lossy does it (Hugging Face `tokenizers` decodes with that): every maximal
// subpart of an ill-formed sequence becomes one U+FFFD (Unicode 15, §3.9 "U+FFFD Substitution of
// Maximal Subparts", the same rule as the WHATWG Encoding Standard).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace qwen3::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// True when `s` is well-formed UTF-8 (no surrogates, no overlongs, nothing above U+10FFFF).
bool is_valid(std::string_view s);

// Appends `bytes` to `out`, replacing ill-formed parts by U+FFFD. With `final` false, a trailing
// sequence that is incomplete but could still become valid is left unconsumed (the streaming
// detokenizer keeps it for the next token). Returns how many bytes of `bytes` were consumed:
// bytes.size() when `final`, otherwise at least bytes.size() - 3.
size_t append_lossy(std::string_view bytes, std::string& out, bool final);

inline std::string lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_lossy(bytes, out, /*final=*/true);
  return out;
}

// Decodes the code point starting at s[i] and advances i. Precondition: `s` is valid UTF-8.
inline char32_t next(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    i += 1;
    return b0;
  }
  auto cont = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  char32_t c;
  if (b0 < 0xE0) {
    c = (char32_t(b0 & 0x1F) << 6) | cont(1);
    i += 2;
  } else if (b0 < 0xF0) {
    c = (char32_t(b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2);
    i += 3;
  } else {
    c = (char32_t(b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    i += 4;
  }
  return c;
}

// Decodes the code point that ends at s[i - 1] and moves i back to its first byte.
// Precondition: `s` is valid UTF-8 and i > 0.
inline char32_t prev(std::string_view s, size_t& i) {
  size_t start = i - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  size_t j = start;
  char32_t c = next(s, j);
  i = start;
  return c;
}

void append(std::string& out, char32_t c);

}  // namespace qwen3::utf8
