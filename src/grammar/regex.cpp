#include "grammar/regex.h"

#include <fmt/format.h>

#include <optional>
#include <vector>

#include "core/error.h"
#include "grammar/gbnf_text.h"

namespace qwen3::grammar {

namespace {

constexpr uint32_t kUnbounded = UINT32_MAX;

struct Node {
  enum Kind { Alt, Seq, Repeat, Set, Start, End } kind;
  std::vector<Node> kids;
  CodeSet set;                        // Set
  uint32_t min = 0, max = kUnbounded; // Repeat
};

const CodeSet kDigit{{'0', '9'}};
const CodeSet kWord{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// ECMAScript WhiteSpace and LineTerminator.
const CodeSet kSpace{{0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                     {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const CodeSet kLineTerminators{{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};

class Parser {
 public:
  Parser(std::string_view pattern, const RegexOptions& options)
      : pattern_(pattern), cps_(decode_utf8(pattern)), options_(options) {}

  Node parse() {
    Node n = alternation();
    if (pos_ < cps_.size()) error(cps_[pos_] == ')' ? "unbalanced ')'" : "unexpected character");
    return n;
  }

 private:
  [[noreturn]] void error(std::string_view what) const {
    fail("regex /{}/: {} at offset {}", pattern_, what, pos_);
  }
  [[noreturn]] void unsupported(std::string_view construct) const {
    fail("regex /{}/: unsupported construct: {} at offset {}", pattern_, construct, pos_);
  }
  bool at_end() const { return pos_ >= cps_.size(); }
  uint32_t peek(size_t ahead = 0) const { return pos_ + ahead < cps_.size() ? cps_[pos_ + ahead] : 0; }
  bool eat(uint32_t c) {
    if (at_end() || cps_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  Node alternation() {
    Node alt{Node::Alt, {}, {}};
    alt.kids.push_back(sequence());
    while (eat('|')) alt.kids.push_back(sequence());
    return alt.kids.size() == 1 ? std::move(alt.kids[0]) : alt;
  }

  Node sequence() {
    Node seq{Node::Seq, {}, {}};
    while (!at_end() && peek() != '|' && peek() != ')') {
      Node atom_node = atom();
      quantifiers(atom_node);
      seq.kids.push_back(std::move(atom_node));
    }
    return seq;
  }

  void quantifiers(Node& atom_node) {
    for (;;) {
      uint32_t lo = 0, hi = kUnbounded;
      if (eat('*')) {
      } else if (eat('+')) {
        lo = 1;
      } else if (eat('?')) {
        hi = 1;
      } else if (peek() == '{') {
        braces(lo, hi);
      } else {
        return;
      }
      if (atom_node.kind == Node::Start || atom_node.kind == Node::End) error("quantifier after an anchor");
      if (atom_node.kind == Node::Repeat) error("nothing to repeat (a quantifier follows a quantifier)");
      eat('?');  // lazy: the same language
      atom_node = Node{Node::Repeat, {std::move(atom_node)}, {}, lo, hi};
    }
  }

  void braces(uint32_t& lo, uint32_t& hi) {
    ++pos_;  // {
    const std::optional<uint32_t> m = number();
    if (!m) error("'{' not followed by a quantifier (write \\{ for a brace)");
    lo = hi = *m;
    if (eat(',')) hi = number().value_or(kUnbounded);
    if (!eat('}')) error("unterminated quantifier {m,n}");
    if (hi < lo) error("quantifier {m,n} with n < m");
    const uint32_t biggest = hi == kUnbounded ? lo : hi;
    if (biggest > options_.max_repeat) {
      fail("regex /{}/: quantifier bound {} is over the limit of {}", pattern_, biggest, options_.max_repeat);
    }
  }

  std::optional<uint32_t> number() {
    uint64_t v = 0;
    size_t start = pos_;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      v = std::min<uint64_t>(v * 10 + (peek() - '0'), UINT32_MAX - 1);
      ++pos_;
    }
    if (pos_ == start) return std::nullopt;
    return static_cast<uint32_t>(v);
  }

  Node atom() {
    const uint32_t c = peek();
    ++pos_;
    switch (c) {
      case '^': return Node{Node::Start, {}, {}};
      case '$': return Node{Node::End, {}, {}};
      case '.': return set_node(complement(kLineTerminators));
      case '[': return set_node(bracket());
      case '(': return group();
      case '\\': return set_node(escape(false));
      case '*': case '+': case '?': error("nothing to repeat");
      case '{': error("'{' not followed by a quantifier (write \\{ for a brace)");
      case '}': case ']': error("lone bracket (the u flag requires \\] and \\})");
      default: return set_node({{c, c}});
    }
  }

  static Node set_node(CodeSet set) { return Node{Node::Set, {}, normalized(std::move(set))}; }

  Node group() {
    if (eat('?')) {
      if (eat(':')) {
      } else if (peek() == '=' || peek() == '!') {
        unsupported("lookahead (?= (?!");
      } else if (peek() == '<' && (peek(1) == '=' || peek(1) == '!')) {
        unsupported("lookbehind (?<= (?<!");
      } else if (eat('<')) {
        while (!at_end() && peek() != '>') ++pos_;
        if (!eat('>')) error("unterminated group name");
      } else {
        unsupported("group modifier (?");
      }
    }
    Node inner = alternation();
    if (!eat(')')) error("missing ')'");
    return inner;
  }

  CodeSet bracket() {
    const bool negate = eat('^');
    CodeSet set;
    while (!eat(']')) {
      if (at_end()) error("unterminated character set");
      CodeSet lo = class_atom();
      if (peek() == '-' && peek(1) != ']' && peek(1) != 0) {
        ++pos_;
        CodeSet hi = class_atom();
        if (lo.size() != 1 || hi.size() != 1 || lo[0].lo != lo[0].hi || hi[0].lo != hi[0].hi) {
          error("a class escape (\\d \\w \\s) in a range");
        }
        if (hi[0].lo < lo[0].lo) error("range out of order in character set");
        set.push_back({lo[0].lo, hi[0].lo});
      } else {
        set.insert(set.end(), lo.begin(), lo.end());
      }
    }
    if (negate) return complement(set);
    if (set.empty()) unsupported("the empty set [] (matches nothing)");
    return set;
  }

  CodeSet class_atom() {
    const uint32_t c = peek();
    ++pos_;
    if (c == '\\') return escape(true);
    return {{c, c}};
  }

  // After a backslash. `in_class`: inside [...], where \b is a backspace and \- a hyphen.
  CodeSet escape(bool in_class) {
    if (at_end()) error("'\\' at the end of the pattern");
    const uint32_t c = peek();
    ++pos_;
    auto one = [](uint32_t cp) { return CodeSet{{cp, cp}}; };
    switch (c) {
      case 'd': return kDigit;
      case 'D': return complement(kDigit);
      case 'w': return kWord;
      case 'W': return complement(kWord);
      case 's': return kSpace;
      case 'S': return complement(kSpace);
      case 't': return one('\t');
      case 'n': return one('\n');
      case 'r': return one('\r');
      case 'v': return one('\v');
      case 'f': return one('\f');
      case 'x': return one(hex(2));
      case 'u': return one(unicode_escape());
      case 'c': {
        const uint32_t l = peek();
        if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z'))) error("\\c not followed by a letter");
        ++pos_;
        return one(l % 32);
      }
      case '0':
        if (peek() >= '0' && peek() <= '9') unsupported("octal escape");
        return one(0);
      case 'b':
        if (in_class) return one('\b');
        unsupported("word boundary \\b");
      case 'B': unsupported("word boundary \\B");
      case 'k': unsupported("named backreference \\k");
      case 'p': case 'P': unsupported("Unicode property escape \\p{...}");
      default: break;
    }
    if (c >= '1' && c <= '9') unsupported("backreference \\1..\\9");
    if (c < 0x80 && std::string_view("^$\\.*+?()[]{}|/").find(static_cast<char>(c)) != std::string_view::npos) {
      return one(c);
    }
    if (in_class && c == '-') return one(c);
    error("invalid escape (the u flag allows only escapes of syntax characters)");
  }

  uint32_t hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const uint32_t c = peek();
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) error("bad hexadecimal escape");
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  uint32_t unicode_escape() {
    if (eat('{')) {
      uint32_t v = 0;
      size_t n = 0;
      while (!eat('}')) {
        v = v * 16 + hex(1);
        if (++n > 6 || v > kMaxCodePoint) error("\\u{...} beyond U+10FFFF");
      }
      if (n == 0) error("empty \\u{}");
      return v;
    }
    const uint32_t v = hex(4);
    if (v >= 0xD800 && v <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {  // a surrogate pair
      const size_t save = pos_;
      pos_ += 2;
      const uint32_t low = hex(4);
      if (low >= 0xDC00 && low <= 0xDFFF) return 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00);
      pos_ = save;
    }
    if (v >= 0xD800 && v <= 0xDFFF) unsupported("lone surrogate escape");
    return v;
  }

  std::string_view pattern_;
  std::vector<uint32_t> cps_;
  size_t pos_ = 0;
  const RegexOptions& options_;
};

// Writes a node as one GBNF expression.
class Writer {
 public:
  Writer(bool json, std::string escape_rule) : json_(json), escape_rule_(std::move(escape_rule)) {}

  std::string write(const Node& n) {
    switch (n.kind) {
      case Node::Alt: {
        std::string out = "(";
        for (size_t i = 0; i < n.kids.size(); ++i) out += (i ? " | " : "") + write(n.kids[i]);
        return out + ")";
      }
      case Node::Seq: return sequence(n);
      case Node::Repeat: return repeat(n);
      case Node::Set: return set(n.set);
      case Node::Start: case Node::End: fail("regex: an anchor ^ or $ inside the pattern is not supported");
    }
    return "";
  }

 private:
  std::string sequence(const Node& n) {
    std::vector<std::string> parts;
    std::string literal;  // consecutive single characters, written as one literal
    auto flush = [&]() {
      if (!literal.empty()) parts.push_back(gbnf_literal(literal));
      literal.clear();
    };
    for (const Node& k : n.kids) {
      if (k.kind == Node::Set && k.set.size() == 1 && k.set[0].lo == k.set[0].hi &&
          !(k.set[0].lo >= 0xD800 && k.set[0].lo <= 0xDFFF)) {
        std::string ch;
        append_utf8(ch, k.set[0].lo);
        literal += json_ ? json_string_content(ch) : ch;
        continue;
      }
      flush();
      parts.push_back(write(k));
    }
    flush();
    if (parts.empty()) return "\"\"";
    if (parts.size() == 1) return parts[0];
    std::string out = "(";
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? " " : "") + parts[i];
    return out + ")";
  }

  std::string repeat(const Node& n) {
    std::string inner = write(n.kids[0]);
    if (!gbnf_is_atom(inner)) inner = "(" + inner + ")";
    if (n.min == 0 && n.max == kUnbounded) return inner + "*";
    if (n.min == 1 && n.max == kUnbounded) return inner + "+";
    if (n.min == 0 && n.max == 1) return inner + "?";
    if (n.max == kUnbounded) return fmt::format("{}{{{},}}", inner, n.min);
    if (n.min == n.max) return fmt::format("{}{{{}}}", inner, n.min);
    return fmt::format("{}{{{},{}}}", inner, n.min, n.max);
  }

  std::string set(const CodeSet& s) const {
    if (!json_) return gbnf_class(s);
    std::string e = json_char_expr(s, escape_rule_);
    if (e.empty()) fail("regex: a character set holds only characters a JSON string cannot contain");
    return e;
  }

  bool json_;
  std::string escape_rule_;
};

struct Branch {
  Node body;
  bool starts_anchored = false;
  bool ends_anchored = false;
};

// The top-level alternatives with their anchors taken off the two ends.
std::vector<Branch> branches(Node root) {
  std::vector<Node> alts;
  if (root.kind == Node::Alt) {
    alts = std::move(root.kids);
  } else {
    alts.push_back(std::move(root));
  }
  std::vector<Branch> out;
  for (Node& a : alts) {
    Branch b;
    if (a.kind != Node::Seq) a = Node{Node::Seq, {std::move(a)}, {}};
    auto& kids = a.kids;
    while (!kids.empty() && kids.front().kind == Node::Start) {
      b.starts_anchored = true;
      kids.erase(kids.begin());
    }
    while (!kids.empty() && kids.back().kind == Node::End) {
      b.ends_anchored = true;
      kids.pop_back();
    }
    b.body = std::move(a);
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace

std::string regex_to_gbnf(std::string_view pattern, const RegexOptions& options) {
  Writer w(false, "");
  std::string expr;
  for (const Branch& b : branches(Parser(pattern, options).parse())) {
    expr += (expr.empty() ? "" : " | ") + w.write(b.body);
  }
  return "root ::= " + expr + "\n";
}

std::string regex_to_json_content(std::string_view pattern, std::string_view any_char, const RegexOptions& options) {
  Writer w(true, options.json_escape_rule);
  std::string expr;
  const std::vector<Branch> bs = branches(Parser(pattern, options).parse());
  for (const Branch& b : bs) {
    std::string alt = w.write(b.body);
    if (!b.starts_anchored) alt = fmt::format("{}* {}", any_char, alt);
    if (!b.ends_anchored) alt = fmt::format("{} {}*", alt, any_char);
    expr += (expr.empty() ? "" : " | ") + alt;
  }
  return bs.size() > 1 ? "(" + expr + ")" : expr;
}

std::optional<CharRun> regex_as_char_run(std::string_view pattern, const RegexOptions& options) {
  std::vector<Branch> bs = branches(Parser(pattern, options).parse());
  if (bs.size() != 1 || !bs[0].starts_anchored || !bs[0].ends_anchored) return std::nullopt;
  const std::vector<Node>& kids = bs[0].body.kids;
  if (kids.size() != 1) return std::nullopt;
  const Node& n = kids[0];
  if (n.kind == Node::Set) return CharRun{n.set, 1, 1};
  if (n.kind != Node::Repeat || n.kids[0].kind != Node::Set) return std::nullopt;
  return CharRun{n.kids[0].set, n.min, n.max == kUnbounded ? std::nullopt : std::optional<uint64_t>(n.max)};
}

}  // namespace qwen3::grammar
