#include "grammar/gbnf_compose.h"

#include "core/error.h"

namespace qwen3::grammar {

namespace {
bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}
}  // namespace

std::string prefix_gbnf_rules(std::string_view g, std::string_view prefix) {
  std::string out;
  out.reserve(g.size() + g.size() / 8);
  size_t i = 0;
  // Copies a quoted literal or a class through its closing delimiter, with backslash escapes.
  auto copy_until = [&](char close, const char* what) {
    const size_t start = i;
    out += g[i++];
    while (i < g.size() && g[i] != close) {
      if (g[i] == '\\' && i + 1 < g.size()) out += g[i++];
      out += g[i++];
    }
    if (i >= g.size()) fail("grammar: unterminated {} starting at byte {}", what, start);
    out += g[i++];
  };
  while (i < g.size()) {
    const char c = g[i];
    if (c == '"') {
      copy_until('"', "literal");
    } else if (c == '[') {
      copy_until(']', "character class");
    } else if (c == '#') {
      while (i < g.size() && g[i] != '\n') out += g[i++];
    } else if (name_char(c)) {
      // A name, or the digits of a repetition count ({2,5}): counts follow '{' or ','.
      size_t j = i;
      while (j < g.size() && name_char(g[j])) ++j;
      size_t b = out.size();
      while (b > 0 && (out[b - 1] == ' ' || out[b - 1] == '\t')) --b;
      const bool count = b > 0 && (out[b - 1] == '{' || out[b - 1] == ',');
      if (!count) out += prefix;
      out.append(g.substr(i, j - i));
      i = j;
    } else {
      out += g[i++];
    }
  }
  return out;
}

}  // namespace qwen3::grammar
