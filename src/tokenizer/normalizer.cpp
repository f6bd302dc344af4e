#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace qwen3 {
namespace {

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

int combining_class(utf8proc_int32_t c) { return utf8proc_get_property(c)->combining_class; }

// Hugging Face normalizes with the crate unicode-normalization-alignments, whose tables are those
// of Unicode 9.0: to it, a character added later has combining class 0, no decomposition and no
// composition. utf8proc knows them, so they would reorder, decompose or compose differently.
// These are the code points added since Unicode 9.0 that have normalization data (a combining
// class, a decomposition, or a part in a composition): for 10.0 to 15.1, those on which utf8proc
// and Hugging Face disagree over every code point (tests/tokenizer/README.md tells how that was
// checked); for 16.0, which utf8proc does not know yet, the new blocks with marks whole (Todhri,
// Garay, Tulu-Tigalari, Gurung Khema, Kirat Rai, Ol Onal) and U+0897. Every one of them is unknown
// to Hugging Face, so the list may be generous but never wrong. Sorted, inclusive ranges.
constexpr std::array<std::pair<char32_t, char32_t>, 45> kUnknownToHuggingFace = {{
    {0x07FD, 0x07FD}, {0x0897, 0x089F}, {0x08CA, 0x08D3}, {0x09FE, 0x09FE}, {0x0C3C, 0x0C3C},
    {0x0D3B, 0x0D3C}, {0x0EBA, 0x0EBA}, {0x1715, 0x1715}, {0x1ABF, 0x1ACE}, {0x1DF6, 0x1DFA},
    {0xA82C, 0xA82C}, {0x105C0, 0x105FF}, {0x10D24, 0x10D27}, {0x10D40, 0x10D8F}, {0x10EAB, 0x10EAC},
    {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x1133B, 0x1133B},
    {0x11380, 0x113FF}, {0x1145E, 0x1145E}, {0x11839, 0x1183A}, {0x11930, 0x11930}, {0x11935, 0x11935},
    {0x11938, 0x11938}, {0x1193D, 0x1193E}, {0x11943, 0x11943}, {0x119E0, 0x119E0}, {0x11A34, 0x11A34},
    {0x11A47, 0x11A47}, {0x11A99, 0x11A99}, {0x11D42, 0x11D42}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97},
    {0x11F41, 0x11F42}, {0x16100, 0x1613F}, {0x16D40, 0x16D7F}, {0x16FF0, 0x16FF1}, {0x1E08F, 0x1E08F},
    {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF}, {0x1E5D0, 0x1E5FF},
}};

bool unknown_to_hugging_face(char32_t c) {
  if (c < kUnknownToHuggingFace.front().first) return false;
  // The last range starting at or before c.
  auto it = std::upper_bound(kUnknownToHuggingFace.begin(), kUnknownToHuggingFace.end(), c,
                             [](char32_t x, const std::pair<char32_t, char32_t>& r) { return x < r.first; });
  return c <= std::prev(it)->second;
}

// Canonical ordering and composition of `buffer` (decomposed code points), appended as UTF-8.
void order_and_compose(std::vector<utf8proc_int32_t>& buffer, std::string& out) {
  if (buffer.empty()) return;
  constexpr auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  for (size_t i = 0; i < buffer.size();) {
    if (combining_class(buffer[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (end < buffer.size() && combining_class(buffer[end]) != 0) ++end;
    if (end - i > 1) {
      std::stable_sort(buffer.begin() + static_cast<ptrdiff_t>(i), buffer.begin() + static_cast<ptrdiff_t>(end),
                       [](utf8proc_int32_t a, utf8proc_int32_t b) { return combining_class(a) < combining_class(b); });
    }
    i = end;
  }
  // Composes in place, then writes UTF-8 over the same buffer: up to 4 bytes per code point plus a
  // NUL terminator, so the buffer needs one element of spare room (utf8proc's documented
  // precondition; four 4-byte characters wrote the NUL past the end).
  const auto len = static_cast<utf8proc_ssize_t>(buffer.size());
  buffer.push_back(0);
  const utf8proc_ssize_t n = utf8proc_reencode(buffer.data(), len, options);
  if (n < 0) fail("NFC normalization failed: {}", utf8proc_errmsg(n));
  out.append(reinterpret_cast<const char*>(buffer.data()), static_cast<size_t>(n));
  buffer.clear();
}

}  // namespace

// NFC = canonical decomposition, canonical ordering, canonical composition. utf8proc_map does all
// three, but orders combining marks with an insertion sort, which is quadratic in the length of a
// run of marks (40k marks after one letter take seconds). So the three steps are done here with
// utf8proc's per-character decomposition and its composition pass, and the ordering is a stable
// sort of each run of non-starters by combining class — the same order, in O(n log n).
//
// Some characters cut the text into parts that normalize independently: they are starters
// (nothing reorders across them) and never the second of a composition (nothing composes across
// them). ASCII characters are such (but may start a composition: "e" + U+0301), and so are the CJK
// unified ideographs U+4E00..U+9FFF (which take no part in composition at all) and the characters
// unknown to Hugging Face's tables. Runs of them are copied as they are, which makes NFC cheap on
// mostly-ASCII or Chinese text.
void normalize(Normalization form, std::string_view text, std::string& out) {
  if (form == Normalization::kNone || is_ascii(text)) {
    out.append(text);
    return;
  }
  constexpr auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  std::vector<utf8proc_int32_t> buffer;  // decomposed code points not yet composed
  for (size_t i = 0; i < text.size();) {
    size_t ascii_end = i;
    while (ascii_end < text.size() && static_cast<unsigned char>(text[ascii_end]) < 0x80) ++ascii_end;
    if (ascii_end > i) {
      order_and_compose(buffer, out);
      if (ascii_end == text.size()) {
        out.append(text.substr(i));
        break;
      }
      // The last ASCII character may compose with the marks that follow it.
      out.append(text.substr(i, ascii_end - 1 - i));
      buffer.push_back(static_cast<unsigned char>(text[ascii_end - 1]));
      i = ascii_end;
    }
    const size_t start = i;
    const char32_t c = utf8::next(text, i);
    if ((c >= 0x4E00 && c <= 0x9FFF) || unknown_to_hugging_face(c)) {
      order_and_compose(buffer, out);
      out.append(text.substr(start, i - start));
      continue;
    }
    // A canonical decomposition has at most 4 code points; 32 is ample.
    utf8proc_int32_t decomposed[32];
    int boundclass = 0;
    const utf8proc_ssize_t n =
        utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), decomposed, 32, options, &boundclass);
    if (n < 0 || n > 32) {
      fail("NFC normalization failed at U+{:04X}: {}", static_cast<uint32_t>(c), utf8proc_errmsg(n < 0 ? n : 0));
    }
    buffer.insert(buffer.end(), decomposed, decomposed + n);
  }
  order_and_compose(buffer, out);
}

}  // namespace qwen3
