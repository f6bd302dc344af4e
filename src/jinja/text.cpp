#include "jinja/text.h"

#include <locale.h>
#include <utf8proc.h>
#include <wctype.h>

#include <algorithm>

#include "jinja/template_limits.h"

// Every function here that reads a whole string counts its bytes against the render's
// max_scanned_bytes: a loop may repeat an O(n) string operation only so often.
namespace qwen3::jinja::text {
namespace {

// The C.UTF-8 locale for the wide-character classification and case functions, created once and
// never made the global locale (other threads are unaffected). Null when the C library lacks it;
// then only ASCII is classified and mapped.
locale_t utf8_locale() {
  static const locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (l == static_cast<locale_t>(0)) l = newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(0));
    return l;
  }();
  return loc;
}

// Unicode general category Cf (format characters): printable per the C library, not per Python.
bool is_format(char32_t c) {
  static constexpr std::pair<char32_t, char32_t> ranges[] = {
      {0xAD, 0xAD},         {0x600, 0x605},       {0x61C, 0x61C},       {0x6DD, 0x6DD},
      {0x70F, 0x70F},       {0x890, 0x891},       {0x8E2, 0x8E2},       {0x180E, 0x180E},
      {0x200B, 0x200F},     {0x202A, 0x202E},     {0x2060, 0x2064},     {0x2066, 0x206F},
      {0xFEFF, 0xFEFF},     {0xFFF9, 0xFFFB},     {0x110BD, 0x110BD},   {0x110CD, 0x110CD},
      {0x13430, 0x1343F},   {0x1BCA0, 0x1BCA3},   {0x1D173, 0x1D17A},   {0xE0001, 0xE0001},
      {0xE0020, 0xE007F},
  };
  for (auto [lo, hi] : ranges) {
    if (c >= lo && c <= hi) return true;
  }
  return false;
}

bool in_set(char32_t c, std::u32string_view set) { return set.find(c) != std::u32string_view::npos; }

// Byte offset -> code point index.
int64_t cp_index(std::string_view s, size_t byte_offset) {
  int64_t n = 0;
  for (size_t i = 0; i < byte_offset; ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::vector<std::string> split_whitespace(std::u32string_view u, int64_t maxsplit, bool from_right) {
  std::vector<std::string> parts;
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < u.size() && is_space(u[i])) ++i;
      if (i == u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t end = u.size();
        while (end > i && is_space(u[end - 1])) --end;
        parts.push_back(encode(u.substr(i, end - i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !is_space(u[j])) ++j;
      parts.push_back(encode(u.substr(i, j - i)));
      i = j;
    }
    return parts;
  }
  size_t i = u.size();
  while (true) {
    while (i > 0 && is_space(u[i - 1])) --i;
    if (i == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      size_t begin = 0;
      while (begin < i && is_space(u[begin])) ++begin;
      parts.push_back(encode(u.substr(begin, i - begin)));
      break;
    }
    size_t j = i;
    while (j > 0 && !is_space(u[j - 1])) --j;
    parts.push_back(encode(u.substr(j, i - j)));
    i = j;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

template <typename F>
std::string map_chars(std::string_view s, F&& f) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(f(static_cast<char32_t>(ch)));
    return out;
  }
  std::u32string u = decode(s);
  for (char32_t& c : u) c = f(c);
  return encode(u);
}

}  // namespace

std::u32string decode(std::string_view s) {
  budget::scanned(s.size());
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int n = 0;
    char32_t c = 0, min = 0;
    if ((b0 & 0xE0) == 0xC0) n = 1, c = b0 & 0x1F, min = 0x80;
    else if ((b0 & 0xF0) == 0xE0) n = 2, c = b0 & 0x0F, min = 0x800;
    else if ((b0 & 0xF8) == 0xF0) n = 3, c = b0 & 0x07, min = 0x10000;
    bool ok = n > 0;
    if (ok) {
      for (int k = 1; k <= n; ++k) {
        if (i + k >= s.size()) {
          ok = false;
          break;
        }
        const unsigned char b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
          ok = false;
          break;
        }
        c = (c << 6) | (b & 0x3F);
      }
    }
    if (ok && (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))) ok = false;
    if (ok) {
      out.push_back(c);
      i += n + 1;
    } else {
      out.push_back(0xDC00 + b0);  // surrogateescape
      ++i;
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c >= 0xDC80 && c <= 0xDCFF) {
    out.push_back(static_cast<char>(c - 0xDC00));  // a byte that was not valid UTF-8
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

bool is_ascii(std::string_view s) {
  budget::scanned(s.size());
  return std::all_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x80; });
}

size_t length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return decode(s).size();
}

bool is_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_printable(char32_t c) {
  if (c < 0x80) return c >= 0x20 && c < 0x7F;
  if (is_space(c) || is_format(c) || (c >= 0xD800 && c <= 0xDFFF)) return false;
  if (c >= 0xE000 && c <= 0xF8FF) return false;  // private use (Co)
  if (c >= 0xF0000) return false;                 // private use planes, noncharacters
  locale_t loc = utf8_locale();
  if (loc == static_cast<locale_t>(0)) return c >= 0xA0;
  return iswprint_l(static_cast<wint_t>(c), loc) != 0;
}

bool is_alnum(char32_t c) { return is_alpha(c) || is_digit(c); }

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  locale_t loc = utf8_locale();
  return loc != static_cast<locale_t>(0) && iswalpha_l(static_cast<wint_t>(c), loc) != 0;
}

bool is_digit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  locale_t loc = utf8_locale();
  // glibc's C.UTF-8 counts only ASCII digits as `digit`; other scripts' digits are `alpha` there.
  return loc != static_cast<locale_t>(0) && iswdigit_l(static_cast<wint_t>(c), loc) != 0;
}

bool is_upper(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  locale_t loc = utf8_locale();
  return loc != static_cast<locale_t>(0) && iswupper_l(static_cast<wint_t>(c), loc) != 0;
}

bool is_lower(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  locale_t loc = utf8_locale();
  return loc != static_cast<locale_t>(0) && iswlower_l(static_cast<wint_t>(c), loc) != 0;
}

// Unicode's simple case mappings come from utf8proc; the full mappings where one code point
// becomes several (SpecialCasing.txt, its unconditional entries that are not Greek iota-subscript
// forms) are listed here, as Python applies them.
namespace {

struct SpecialCase {
  char32_t c;
  const char32_t* lower;  // null: the simple mapping
  const char32_t* title;
  const char32_t* upper;
};

constexpr SpecialCase kSpecialCases[] = {
    {0x00DF, nullptr, U"Ss", U"SS"},                        // ß
    {0x0130, U"i\u0307", nullptr, nullptr},                 // İ
    {0x0149, nullptr, U"\u02BCN", U"\u02BCN"},               // ŉ
    {0x01F0, nullptr, U"J\u030C", U"J\u030C"},               // ǰ
    {0x0390, nullptr, U"\u0399\u0308\u0301", U"\u0399\u0308\u0301"},  // ΐ
    {0x03B0, nullptr, U"\u03A5\u0308\u0301", U"\u03A5\u0308\u0301"},  // ΰ
    {0x0587, nullptr, U"\u0535\u0582", U"\u0535\u0552"},     // և
    {0x1E96, nullptr, U"H\u0331", U"H\u0331"},               // ẖ
    {0x1E97, nullptr, U"T\u0308", U"T\u0308"},               // ẗ
    {0x1E98, nullptr, U"W\u030A", U"W\u030A"},               // ẘ
    {0x1E99, nullptr, U"Y\u030A", U"Y\u030A"},               // ẙ
    {0x1E9A, nullptr, U"A\u02BE", U"A\u02BE"},               // ẚ
    {0xFB00, nullptr, U"Ff", U"FF"},                        // ﬀ
    {0xFB01, nullptr, U"Fi", U"FI"},                        // ﬁ
    {0xFB02, nullptr, U"Fl", U"FL"},                        // ﬂ
    {0xFB03, nullptr, U"Ffi", U"FFI"},                      // ﬃ
    {0xFB04, nullptr, U"Ffl", U"FFL"},                      // ﬄ
    {0xFB05, nullptr, U"St", U"ST"},                        // ﬅ
    {0xFB06, nullptr, U"St", U"ST"},                        // ﬆ
};

const SpecialCase* special_case(char32_t c) {
  if (c < 0xDF) return nullptr;
  for (const SpecialCase& s : kSpecialCases) {
    if (s.c == c) return &s;
  }
  return nullptr;
}

bool is_surrogate_escape(char32_t c) { return c >= 0xDC80 && c <= 0xDCFF; }

bool is_cased(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  const utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

}  // namespace

char32_t to_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (is_surrogate_escape(c) || c > 0x10FFFF) return c;
  return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c)));
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (is_surrogate_escape(c) || c > 0x10FFFF) return c;
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}

char32_t to_title(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (is_surrogate_escape(c) || c > 0x10FFFF) return c;
  return static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c)));
}

void append_upper(std::u32string& out, char32_t c) {
  const SpecialCase* s = special_case(c);
  if (s != nullptr && s->upper != nullptr) {
    out += s->upper;
  } else {
    out.push_back(to_upper(c));
  }
}

void append_lower(std::u32string& out, char32_t c) {
  const SpecialCase* s = special_case(c);
  if (s != nullptr && s->lower != nullptr) {
    out += s->lower;
  } else {
    out.push_back(to_lower(c));
  }
}

void append_title(std::u32string& out, char32_t c) {
  const SpecialCase* s = special_case(c);
  if (s != nullptr && s->title != nullptr) {
    out += s->title;
  } else {
    out.push_back(to_title(c));
  }
}

namespace {

// Python's lower() of u[i]: Σ becomes final ς after a cased letter when no cased letter follows
// (SpecialCasing's Final_Sigma, without its skipping of case-ignorable marks).
void append_lower_at(std::u32string& out, const std::u32string& u, size_t i) {
  if (u[i] == 0x03A3 && i > 0 && is_cased(u[i - 1]) && (i + 1 == u.size() || !is_cased(u[i + 1]))) {
    out.push_back(0x03C2);
  } else {
    append_lower(out, u[i]);
  }
}

template <typename F>
std::string map_full(std::string_view s, F&& f) {
  const std::u32string u = decode(s);
  std::u32string out;
  out.reserve(u.size());
  for (size_t i = 0; i < u.size(); ++i) f(out, u, i);
  budget::check_string(out.size());
  return encode(out);
}

}  // namespace

std::string upper(std::string_view s) {
  if (is_ascii(s)) return map_chars(s, [](char32_t c) { return to_upper(c); });
  return map_full(s, [](std::u32string& out, const std::u32string& u, size_t i) { append_upper(out, u[i]); });
}

std::string lower(std::string_view s) {
  if (is_ascii(s)) return map_chars(s, [](char32_t c) { return to_lower(c); });
  return map_full(s, append_lower_at);
}

std::string swapcase(std::string_view s) {
  if (is_ascii(s)) return map_chars(s, [](char32_t c) { return is_upper(c) ? to_lower(c) : to_upper(c); });
  return map_full(s, [](std::u32string& out, const std::u32string& u, size_t i) {
    if (is_upper(u[i])) {
      append_lower_at(out, u, i);
    } else if (is_lower(u[i])) {
      append_upper(out, u[i]);
    } else {
      out.push_back(u[i]);
    }
  });
}

// Python's str.title: the first cased character of each run of cased characters in title case,
// the others lower case.
std::string title(std::string_view s) {
  const std::u32string u = decode(s);
  std::u32string out;
  bool previous_cased = false;
  for (size_t i = 0; i < u.size(); ++i) {
    if (previous_cased) {
      append_lower_at(out, u, i);
    } else {
      append_title(out, u[i]);
    }
    previous_cased = is_cased(u[i]);
  }
  budget::check_string(out.size());
  return encode(out);
}

// Python's str.capitalize (3.8+): the first character in title case, the rest lower case.
std::string capitalize(std::string_view s) {
  const std::u32string u = decode(s);
  std::u32string out;
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 0) {
      append_title(out, u[i]);
    } else {
      append_lower_at(out, u, i);
    }
  }
  budget::check_string(out.size());
  return encode(out);
}

bool is_upper(std::string_view s) {
  bool cased = false;
  for (char32_t c : decode(s)) {
    if (is_lower(c)) return false;
    if (is_upper(c)) cased = true;
  }
  return cased;
}

bool is_lower(std::string_view s) {
  bool cased = false;
  for (char32_t c : decode(s)) {
    if (is_upper(c)) return false;
    if (is_lower(c)) cased = true;
  }
  return cased;
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  budget::scanned(s.size());
  const std::u32string u = decode(s);
  const std::u32string set = chars ? decode(*chars) : std::u32string();
  auto strippable = [&](char32_t c) { return chars ? in_set(c, set) : is_space(c); };
  size_t begin = 0, end = u.size();
  if (left) {
    while (begin < end && strippable(u[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strippable(u[end - 1])) --end;
  }
  return encode(std::u32string_view(u).substr(begin, end - begin));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  budget::scanned(s.size());
  if (!sep) return split_whitespace(decode(s), maxsplit, false);
  std::vector<std::string> parts;
  size_t pos = 0;
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    const size_t hit = s.find(*sep, pos);
    if (hit == std::string_view::npos) break;
    parts.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep->size();
  }
  parts.emplace_back(s.substr(pos));
  return parts;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  budget::scanned(s.size());
  if (!sep) return split_whitespace(decode(s), maxsplit, true);
  std::vector<std::string> parts;
  size_t end = s.size();
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    if (end < sep->size()) break;
    const size_t hit = s.rfind(*sep, end - sep->size());
    if (hit == std::string_view::npos) break;
    parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
    end = hit;
  }
  parts.emplace_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  budget::scanned(s.size());
  const std::u32string u = decode(s);
  std::vector<std::string> lines;
  size_t begin = 0, i = 0;
  while (i < u.size()) {
    const char32_t c = u[i];
    const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                     c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) {
      ++i;
      continue;
    }
    size_t end = i + ((c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ? 2 : 1);
    lines.push_back(encode(std::u32string_view(u).substr(begin, (keepends ? end : i) - begin)));
    begin = i = end;
  }
  if (begin < u.size()) lines.push_back(encode(std::u32string_view(u).substr(begin)));
  return lines;
}

std::string replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count) {
  budget::scanned(s.size());
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    const std::u32string u = decode(s);
    int64_t done = 0;
    for (char32_t c : u) {
      if (count < 0 || done < count) out.append(replacement), ++done;
      append_utf8(out, c);
    }
    if (count < 0 || done < count) out.append(replacement);
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(old, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(replacement);
    pos = hit + old.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

int64_t find(std::string_view s, std::string_view sub) {
  budget::scanned(s.size());
  const size_t hit = s.find(sub);
  return hit == std::string_view::npos ? -1 : cp_index(s, hit);
}

int64_t rfind(std::string_view s, std::string_view sub) {
  budget::scanned(s.size());
  const size_t hit = s.rfind(sub);
  return hit == std::string_view::npos ? -1 : cp_index(s, hit);
}

int64_t count(std::string_view s, std::string_view sub) {
  budget::scanned(s.size());
  if (sub.empty()) return static_cast<int64_t>(length(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string_view::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return n;
}

}  // namespace qwen3::jinja::text
