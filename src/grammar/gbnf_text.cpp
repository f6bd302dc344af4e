#include "grammar/gbnf_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace qwen3::grammar {

namespace {
constexpr CodeRange kSurrogates{0xD800, 0xDFFF};
}  // namespace

CodeSet normalized(CodeSet set) {
  std::sort(set.begin(), set.end(), [](CodeRange a, CodeRange b) { return a.lo < b.lo; });
  CodeSet out;
  for (const CodeRange& r : set) {
    if (!out.empty() && r.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

CodeSet complement(const CodeSet& set) {
  CodeSet out;
  uint32_t next = 0;
  for (const CodeRange& r : normalized(set)) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return set_minus(out, {kSurrogates});
}

CodeSet set_union(const CodeSet& a, const CodeSet& b) {
  CodeSet all = a;
  all.insert(all.end(), b.begin(), b.end());
  return normalized(all);
}

CodeSet set_minus(const CodeSet& a, const CodeSet& b) {
  CodeSet out;
  const CodeSet nb = normalized(b);
  for (CodeRange r : normalized(a)) {
    for (const CodeRange& cut : nb) {
      if (cut.hi < r.lo || cut.lo > r.hi) continue;
      if (cut.lo > r.lo) out.push_back({r.lo, cut.lo - 1});
      if (cut.hi >= r.hi) {
        r.lo = 1;
        r.hi = 0;  // emptied
        break;
      }
      r.lo = cut.hi + 1;
    }
    if (r.lo <= r.hi) out.push_back(r);
  }
  return out;
}

bool contains(const CodeSet& set, uint32_t cp) {
  return std::any_of(set.begin(), set.end(), [cp](CodeRange r) { return r.lo <= cp && cp <= r.hi; });
}

std::vector<uint32_t> decode_utf8(std::string_view text) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<uint8_t>(text[i]);
    const int n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > text.size()) fail("malformed UTF-8 at byte {}", i);
    uint32_t cp = n == 1 ? b : (b & (0x7F >> n));
    for (int k = 1; k < n; ++k) {
      const auto c = static_cast<uint8_t>(text[i + k]);
      if ((c >> 6) != 2) fail("malformed UTF-8 at byte {}", i + k);
      cp = (cp << 6) | (c & 0x3F);
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

// A code point inside a GBNF literal or class. `specials` are escaped with a backslash.
void append_gbnf_char(std::string& out, uint32_t cp, std::string_view specials) {
  if (cp == '\n') {
    out += "\\n";
  } else if (cp == '\t') {
    out += "\\t";
  } else if (cp == '\r') {
    out += "\\r";
  } else if (cp < 0x20 || cp == 0x7F) {
    out += fmt::format("\\x{:02X}", cp);
  } else if (cp < 0x80 && specials.find(static_cast<char>(cp)) != std::string_view::npos) {
    out += '\\';
    out += static_cast<char>(cp);
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0xA0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
    out += fmt::format("\\u{:04X}", cp);  // C1 controls: unreadable when raw
  } else if (cp > 0xFFFF && cp >= 0xE0000) {
    out += fmt::format("\\U{:08X}", cp);  // tags and private use planes
  } else {
    append_utf8(out, cp);
  }
}

const CodeSet& json_raw_chars() {  // written as themselves in canonical JSON
  static const CodeSet raw = set_minus({{0x20, kMaxCodePoint}}, {{'"', '"'}, {'\\', '\\'}, kSurrogates});
  return raw;
}

// The canonical escape of a character that cannot be written raw.
std::string json_escape(uint32_t cp) {
  switch (cp) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return fmt::format("\\u{:04x}", cp);
  }
}

}  // namespace

std::string gbnf_literal(std::string_view utf8) {
  std::string out = "\"";
  for (uint32_t cp : decode_utf8(utf8)) append_gbnf_char(out, cp, "\"\\");
  return out + "\"";
}

std::string choice_gbnf(const std::vector<std::string>& choices) {
  if (choices.empty()) fail("guided_choice: the list of choices is empty");
  std::string out = "root ::= ";
  for (size_t i = 0; i < choices.size(); ++i) out += (i ? " | " : "") + gbnf_literal(choices[i]);
  return out + "\n";
}

std::string gbnf_class(const CodeSet& set) {
  std::string out = "[";
  // GBNF knows no \^ escape: a caret is written in hex so that it never reads as a negation.
  // Past ASCII, range ends are written as \u / \U escapes: unassigned or invisible code points
  // would be unreadable raw.
  auto put = [&out](uint32_t cp) {
    if (cp == '^') {
      out += "\\x5E";
    } else if (cp >= 0x80) {
      out += cp > 0xFFFF ? fmt::format("\\U{:08X}", cp) : fmt::format("\\u{:04X}", cp);
    } else {
      append_gbnf_char(out, cp, "]\\-[");
    }
  };
  for (const CodeRange& r : normalized(set)) {
    put(r.lo);
    if (r.hi != r.lo) {
      if (r.hi != r.lo + 1) out += '-';
      put(r.hi);
    }
  }
  return out + "]";
}

std::string json_escape_expr() { return "\"\\\\\" ([\"\\\\bfnrt] | \"u00\" (\"0\" [0-7bef] | \"1\" [0-9a-f]))"; }

std::string json_char_expr(const CodeSet& set, std::string_view all_escapes) {
  std::vector<std::string> alts;
  const CodeSet raw = set_minus(normalized(set), set_minus({{0, kMaxCodePoint}}, json_raw_chars()));
  if (!raw.empty()) {
    const CodeSet all_raw = json_raw_chars();
    alts.push_back(set_minus(all_raw, raw).empty() ? "[^\"\\\\\\x00-\\x1F]" : gbnf_class(raw));
  }
  const CodeSet escaped = set_minus(set_minus(normalized(set), json_raw_chars()), {kSurrogates});
  if (escaped == CodeSet{{0, 0x1F}, {'"', '"'}, {'\\', '\\'}}) {
    alts.push_back(all_escapes.empty() ? json_escape_expr() : std::string(all_escapes));
  } else {
    for (const CodeRange& r : escaped) {
      for (uint32_t cp = r.lo; cp <= r.hi; ++cp) alts.push_back(gbnf_literal(json_escape(cp)));
    }
  }
  if (alts.empty()) return "";
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out + ")";
}

bool gbnf_is_atom(std::string_view e) {
  if (e.empty()) return false;
  // Index just past the item starting at i (a literal, a class, a group or a name).
  auto skip_item = [&e](size_t i) -> size_t {
    const char open = e[i];
    if (open == '"' || open == '[') {
      const char close = open == '"' ? '"' : ']';
      for (++i; i < e.size() && e[i] != close; ++i) {
        if (e[i] == '\\') ++i;
      }
      return i + 1;
    }
    if (open == '(') {
      int depth = 0;
      for (; i < e.size(); ++i) {
        if (e[i] == '"' || e[i] == '[') {
          const char close = e[i] == '"' ? '"' : ']';
          for (++i; i < e.size() && e[i] != close; ++i) {
            if (e[i] == '\\') ++i;
          }
        } else if (e[i] == '(') {
          ++depth;
        } else if (e[i] == ')' && --depth == 0) {
          return i + 1;
        }
      }
      return e.size() + 1;
    }
    while (i < e.size() && (std::isalnum(static_cast<unsigned char>(e[i])) || e[i] == '-')) ++i;
    return i == 0 ? e.size() + 1 : i;
  };
  return skip_item(0) == e.size();
}

std::string json_string_content(std::string_view utf8) {
  std::string text;
  for (uint32_t cp : decode_utf8(utf8)) {
    if (contains(json_raw_chars(), cp)) {
      append_utf8(text, cp);
    } else {
      text += json_escape(cp);
    }
  }
  return text;
}

}  // namespace qwen3::grammar
