#include "tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

namespace qwen3::utf8 {
namespace {

// Length of the well-formed sequence that starts with lead byte `b` (Unicode Table 3-7), or 0 when
// `b` can never start one (80..C1, F5..FF).
int sequence_length(unsigned char b) {
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  if (b < 0xF5) return 4;
  return 0;
}

// The range allowed for the second byte after lead byte `b` (Table 3-7): it excludes overlongs
// (E0, F0), surrogates (ED) and code points past U+10FFFF (F4). Later bytes are always 80..BF.
bool second_byte_ok(unsigned char lead, unsigned char b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

// Scans a sequence starting at p[0] (which is >= 0x80) with `avail` bytes available. Returns the
// number of bytes that form a valid prefix: == length when complete, < length when either the
// next byte breaks it (`broken` true) or the input ends (`broken` false).
int scan_sequence(const unsigned char* p, size_t avail, int length, bool& broken) {
  int k = 1;
  broken = false;
  for (; k < length; ++k) {
    if (static_cast<size_t>(k) >= avail) return k;
    const bool ok = k == 1 ? second_byte_ok(p[0], p[1]) : (p[k] & 0xC0) == 0x80;
    if (!ok) {
      broken = true;
      return k;
    }
  }
  return k;
}

}  // namespace

bool is_valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Skip ASCII eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const int length = sequence_length(p[i]);
    if (length == 0) return false;
    bool broken;
    if (scan_sequence(p + i, n - i, length, broken) != length) return false;
    i += length;
  }
  return true;
}

size_t append_lossy(std::string_view bytes, std::string& out, bool final) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  size_t run = 0;  // start of the pending run of valid bytes, copied in one go
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const int length = sequence_length(p[i]);
    if (length == 0) {
      out.append(bytes.data() + run, i - run);
      out.append(kReplacement);
      run = ++i;
      continue;
    }
    bool broken;
    const int valid = scan_sequence(p + i, n - i, length, broken);
    if (valid == length) {
      i += length;
      continue;
    }
    out.append(bytes.data() + run, i - run);
    if (!broken && !final) return i;  // incomplete at the end: keep it for later
    // One U+FFFD for the maximal subpart; the byte that broke it starts afresh.
    out.append(kReplacement);
    i += valid;
    run = i;
  }
  out.append(bytes.data() + run, n - run);
  return n;
}

void append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace qwen3::utf8
