// GBNF text -> Ast (docs/grammar.md). A hand-written recursive-descent parser; every error names
// line:column. Rule bodies end where the next `name ::=` begins, so newlines may appear anywhere.
#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "grammar/gbnf_ast.h"
#include "grammar/gbnf_text.h"
#include "grammar/grammar.h"

namespace qwen3::grammar {

void append_utf8(uint32_t cp, std::string& out) { append_utf8(out, cp); }  // gbnf_text.h's, argument order of gbnf_ast.h

std::string line_column(std::string_view text, size_t offset) {
  int line = 1, column = 1;
  for (size_t k = 0; k < offset && k < text.size(); ++k) {
    if (text[k] == '\n') { ++line; column = 1; } else { ++column; }
  }
  return fmt::format("{}:{}", line, column);
}

namespace {

// Sorts, merges and removes the surrogates from `r`; with `negate`, takes the complement over all
// code points.
std::vector<CodepointRange> normalize(std::vector<CodepointRange> r, bool negate) {
  std::sort(r.begin(), r.end(), [](auto a, auto b) { return a.lo < b.lo; });
  std::vector<CodepointRange> merged;
  for (auto x : r) {
    if (!merged.empty() && x.lo <= merged.back().hi + 1) merged.back().hi = std::max(merged.back().hi, x.hi);
    else merged.push_back(x);
  }
  if (negate) {
    std::vector<CodepointRange> c;
    uint32_t next = 0;
    for (auto x : merged) {
      if (x.lo > next) c.push_back({next, x.lo - 1});
      next = x.hi + 1;
    }
    if (next <= kMaxCodepoint) c.push_back({next, kMaxCodepoint});
    merged = std::move(c);
  }
  std::vector<CodepointRange> out;  // cut out D800-DFFF
  for (auto x : merged) {
    if (x.hi < 0xD800 || x.lo > 0xDFFF) { out.push_back(x); continue; }
    if (x.lo < 0xD800) out.push_back({x.lo, 0xD7FF});
    if (x.hi > 0xDFFF) out.push_back({0xE000, x.hi});
  }
  return out;
}

AstNode make_node(AstNode::Kind kind, SourcePos pos) {
  AstNode n;
  n.kind = kind;
  n.pos = pos;
  return n;
}
AstNode make_chars(std::vector<CodepointRange> ranges, SourcePos pos) {
  AstNode n = make_node(AstNode::Kind::Chars, pos);
  n.ranges = std::move(ranges);
  return n;
}

class Parser {
 public:
  Parser(std::string_view text, const GrammarLimits& limits) : s_(text), limits_(limits) {}

  Ast parse() {
    skip_space();
    if (at_end()) error_at(pos(), "empty grammar: no rules");
    while (!at_end()) {
      SourcePos p = pos();
      std::string name = parse_name();
      skip_space();
      if (!starts_with("::=")) error("expected '::=' after rule name '{}'", name);
      i_ += 3;
      uint32_t id = rule_id(name, p);
      AstRule& r = ast_.rules[id];
      if (r.defined) error_at(p, fmt::format("rule '{}' is defined twice (first at {})", name, line_column(s_, r.pos.offset)));
      r.defined = true;
      r.pos = p;
      AstNode body = parse_alternatives(/*nested=*/false);
      ast_.rules[id].body = std::move(body);
      skip_space();
    }
    for (const AstRule& r : ast_.rules)
      if (!r.defined) error_at(r.pos, fmt::format("undefined rule '{}'", r.name));
    auto root = names_.find("root");
    if (root == names_.end()) error_at({0}, "no 'root' rule: the grammar starts at root");
    ast_.root = root->second;
    return std::move(ast_);
  }

 private:
  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> f, Args&&... args) {
    error_at(pos(), fmt::format(f, std::forward<Args>(args)...));
  }
  [[noreturn]] void error_at(SourcePos p, const std::string& what) { fail("grammar:{}: {}", line_column(s_, p.offset), what); }

  SourcePos pos() const { return {i_}; }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }
  bool starts_with(std::string_view w) const { return s_.substr(i_).starts_with(w); }
  static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  void skip_space() {
    while (!at_end()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { ++i_; continue; }
      if (c == '#') { while (!at_end() && s_[i_] != '\n') ++i_; continue; }
      break;
    }
  }

  std::string parse_name() {
    size_t b = i_;
    while (!at_end() && is_name_char(s_[i_])) ++i_;
    if (b == i_) error("expected a rule name, found '{}'", printable(peek()));
    return std::string(s_.substr(b, i_ - b));
  }
  static std::string printable(char c) {
    if (c == '\0') return "end of text";
    if (static_cast<unsigned char>(c) < 0x20) return fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    return std::string(1, c);
  }

  // True when the text at i_ is `name ::=` (the start of the next rule).
  bool at_rule_definition() const {
    size_t k = i_;
    while (k < s_.size() && is_name_char(s_[k])) ++k;
    if (k == i_) return false;
    while (k < s_.size() && (s_[k] == ' ' || s_[k] == '\t' || s_[k] == '\n' || s_[k] == '\r')) ++k;
    return s_.substr(k).starts_with("::=");
  }

  uint32_t rule_id(const std::string& name, SourcePos p) {
    auto it = names_.find(name);
    if (it != names_.end()) return it->second;
    if (ast_.rules.size() >= limits_.max_rules)
      error_at(p, fmt::format("limit max_rules exceeded ({} rules)", limits_.max_rules));
    uint32_t id = static_cast<uint32_t>(ast_.rules.size());
    ast_.rules.push_back({name, {}, p, false});
    names_.emplace(name, id);
    return id;
  }

  AstNode parse_alternatives(bool nested) {
    AstNode alt = make_node(AstNode::Kind::Alt, pos());
    alt.children.push_back(parse_sequence(nested));
    while (true) {
      skip_space();
      if (peek() != '|') break;
      ++i_;
      alt.children.push_back(parse_sequence(nested));
    }
    return alt;
  }

  AstNode parse_sequence(bool nested) {
    AstNode seq = make_node(AstNode::Kind::Seq, pos());
    while (true) {
      skip_space();
      if (at_end()) break;
      char c = peek();
      if (c == '|') break;
      if (c == ')') {
        if (!nested) error("unbalanced parenthesis: ')' without '('");
        break;
      }
      if (is_name_char(c) && at_rule_definition()) break;  // inside '(', the caller reports the missing ')'
      AstNode item = parse_primary();
      parse_postfix(item);
      seq.children.push_back(std::move(item));
    }
    return seq;
  }

  AstNode parse_primary() {
    SourcePos p = pos();
    char c = peek();
    if (c == '"') return parse_string();
    if (c == '[') return parse_class();
    if (c == '.') {
      ++i_;
      return make_chars(normalize({{0, kMaxCodepoint}}, false), p);
    }
    if (c == '(') {
      ++i_;
      AstNode inner = parse_alternatives(/*nested=*/true);
      skip_space();
      if (peek() != ')') error_at(p, "unbalanced parenthesis: '(' is never closed");
      ++i_;
      inner.pos = p;
      return inner;
    }
    if (is_name_char(c)) {
      std::string name = parse_name();
      AstNode ref = make_node(AstNode::Kind::RuleRef, p);
      ref.rule = rule_id(name, p);
      return ref;
    }
    error("unexpected '{}'", printable(c));
  }

  void parse_postfix(AstNode& item) {
    while (true) {
      char c = peek();  // no space allowed between an item and its operator
      uint32_t lo, hi;
      SourcePos p = pos();
      if (c == '*') { lo = 0; hi = kUnbounded; ++i_; }
      else if (c == '+') { lo = 1; hi = kUnbounded; ++i_; }
      else if (c == '?') { lo = 0; hi = 1; ++i_; }
      else if (c == '{') { parse_braces(lo, hi); }
      else return;
      AstNode rep = make_node(AstNode::Kind::Repeat, p);
      rep.min = lo;
      rep.max = hi;
      rep.children.push_back(std::move(item));
      item = std::move(rep);
    }
  }

  uint32_t parse_count() {
    SourcePos p = pos();
    size_t b = i_;
    uint64_t v = 0;
    while (!at_end() && s_[i_] >= '0' && s_[i_] <= '9') {
      v = v * 10 + static_cast<uint64_t>(s_[i_] - '0');
      if (v > limits_.max_repetition)
        error_at(p, fmt::format("limit max_repetition exceeded (a count above {})", limits_.max_repetition));
      ++i_;
    }
    if (b == i_) error("expected a number in '{{...}}', found '{}'", printable(peek()));
    return static_cast<uint32_t>(v);
  }

  void parse_braces(uint32_t& lo, uint32_t& hi) {
    SourcePos p = pos();
    ++i_;
    skip_blanks();
    lo = parse_count();
    skip_blanks();
    hi = lo;
    if (peek() == ',') {
      ++i_;
      skip_blanks();
      hi = peek() == '}' ? kUnbounded : parse_count();
      skip_blanks();
    }
    if (peek() != '}') error("expected '}}' to close the repetition, found '{}'", printable(peek()));
    ++i_;
    if (hi < lo) error_at(p, fmt::format("repetition {{{},{}}}: the maximum is below the minimum", lo, hi));
  }
  void skip_blanks() { while (peek() == ' ') ++i_; }

  // Reads one code point (a UTF-8 sequence or an escape) inside a literal or a class.
  uint32_t parse_char() {
    SourcePos p = pos();
    auto b = static_cast<unsigned char>(s_[i_]);
    if (b == '\\') return parse_escape();
    if (b < 0x80) { ++i_; return b; }
    int len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
    if (len == 0 || b > 0xF4 || i_ + len > s_.size()) error_at(p, "invalid UTF-8 in the grammar text");
    uint32_t cp = b & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(s_[i_ + k]);
      if ((c & 0xC0) != 0x80) error_at(p, "invalid UTF-8 in the grammar text");
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > kMaxCodepoint || (cp >= 0xD800 && cp <= 0xDFFF))
      error_at(p, "invalid UTF-8 in the grammar text");
    i_ += len;
    return cp;
  }

  uint32_t parse_escape() {
    SourcePos p = pos();
    ++i_;  // the backslash
    if (at_end()) error_at(p, "bad escape: '\\' at the end of the text");
    char c = s_[i_++];
    switch (c) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '.': case '\'': return static_cast<uint32_t>(c);
      case 'x': return parse_hex(p, 2);
      case 'u': return parse_hex(p, 4);
      case 'U': return parse_hex(p, 8);
      default: error_at(p, fmt::format("bad escape '\\{}'", printable(c)));
    }
  }

  uint32_t parse_hex(SourcePos p, int digits) {
    uint64_t v = 0;
    for (int k = 0; k < digits; ++k) {
      char c = peek();
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) error_at(p, fmt::format("bad escape: expected {} hex digits", digits));
      v = v * 16 + static_cast<uint64_t>(d);
      ++i_;
    }
    if (v > kMaxCodepoint || (v >= 0xD800 && v <= 0xDFFF))
      error_at(p, fmt::format("bad escape: U+{:X} is not a Unicode scalar value", v));
    return static_cast<uint32_t>(v);
  }

  AstNode parse_string() {
    SourcePos p = pos();
    ++i_;
    AstNode seq = make_node(AstNode::Kind::Seq, p);
    while (true) {
      if (at_end() || peek() == '\n') error_at(p, "unterminated string literal");
      if (peek() == '"') { ++i_; break; }
      SourcePos cp_pos = pos();
      uint32_t cp = parse_char();
      seq.children.push_back(make_chars({{cp, cp}}, cp_pos));
    }
    return seq;
  }

  AstNode parse_class() {
    SourcePos p = pos();
    ++i_;
    bool negate = false;
    if (peek() == '^') { negate = true; ++i_; }
    std::vector<CodepointRange> ranges;
    while (true) {
      if (at_end()) error_at(p, "unterminated character class: missing ']'");
      if (peek() == ']') { ++i_; break; }
      uint32_t lo = parse_char(), hi = lo;
      if (peek() == '-' && i_ + 1 < s_.size() && s_[i_ + 1] != ']') {
        SourcePos rp = pos();
        ++i_;
        if (at_end()) error_at(p, "unterminated character class: missing ']'");
        hi = parse_char();
        if (hi < lo) error_at(rp, fmt::format("character range U+{:X}-U+{:X} is reversed", lo, hi));
      }
      ranges.push_back({lo, hi});
    }
    auto r = normalize(std::move(ranges), negate);
    if (r.empty()) error_at(p, "character class matches no character");
    return make_chars(std::move(r), p);
  }

  std::string_view s_;
  const GrammarLimits& limits_;
  size_t i_ = 0;
  Ast ast_;
  std::unordered_map<std::string, uint32_t> names_;
};

}  // namespace

Ast parse_gbnf(std::string_view text, const GrammarLimits& limits) {
  if (text.size() > limits.max_text_bytes)
    fail("grammar: limit max_text_bytes exceeded ({} bytes, at most {})", text.size(), limits.max_text_bytes);
  return Parser(text, limits).parse();
}

}  // namespace qwen3::grammar
