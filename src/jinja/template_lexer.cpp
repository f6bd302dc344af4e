#include "jinja/template_lexer.h"

#include <array>
#include <cstdlib>

#include "jinja/template_error.h"
#include "jinja/text.h"

namespace qwen3::jinja {
namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Python's \s over a UTF-8 string: the length of the run of whitespace starting at `pos`.
size_t whitespace_run(std::string_view s, size_t pos) {
  size_t i = pos;
  while (i < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if (!text::is_space(b)) break;
      ++i;
      continue;
    }
    size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
    if (i + len > s.size()) break;
    const std::u32string c = text::decode(s.substr(i, len));
    if (c.size() != 1 || !text::is_space(c[0])) break;
    i += len;
  }
  return i - pos;
}

// str.rstrip() with Python's whitespace.
std::string_view rstrip_whitespace(std::string_view s) {
  const std::string stripped = text::strip(s, std::nullopt, false, true);
  return s.substr(0, stripped.size());
}

bool all_whitespace(std::string_view s) { return !s.empty() && whitespace_run(s, 0) == s.size(); }

class Lexer {
 public:
  Lexer(const std::string& src, const std::string& name) : src_(src), name_(name) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t tag = next_tag(pos_);
      if (tag == std::string::npos) {
        emit_text(src_.substr(pos_), pos_);
        break;
      }
      const char kind = src_[tag + 1];  // '{', '%' or '#'
      const char modifier = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      std::string_view data = std::string_view(src_).substr(pos_, tag - pos_);
      if (modifier == '-') {
        data = rstrip_whitespace(data);
      } else if (modifier != '+' && kind != '{') {  // lstrip_blocks
        const size_t line_start = data.rfind('\n') + 1;  // npos + 1 == 0
        if ((line_start > 0 || line_starting_) && all_whitespace(data.substr(line_start))) {
          data = data.substr(0, line_start);
        }
      }
      emit_text(data, pos_);
      const size_t body = tag + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      if (kind == '#') {
        lex_comment(tag, body);
      } else if (kind == '%' && raw_block_at(body)) {
        lex_raw(tag);
      } else {
        lex_tag(tag, body, kind == '{');
      }
    }
    tokens_.push_back(Token{Token::Type::Eof, "", src_.size()});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(size_t pos, const std::string& message) { throw_template_error(name_, src_, pos, message); }

  size_t next_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void emit_text(std::string_view data, size_t pos) {
    if (data.empty()) return;
    tokens_.push_back(Token{Token::Type::Text, std::string(data), pos});
  }

  // After a tag's closing delimiter ending at `end`: `-` strips all following whitespace, `+`
  // keeps it, otherwise (block and comment tags) one newline is dropped.
  void after_tag(size_t end, char close_modifier, bool trim_newline) {
    if (close_modifier == '-') {
      end += whitespace_run(src_, end);
    } else if (close_modifier != '+' && trim_newline && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_comment(size_t tag, size_t body) {
    const size_t close = src_.find("#}", body);
    if (close == std::string::npos) error(tag, "missing end of comment tag");
    const char m = close > body && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
    after_tag(close + 2, m, true);
  }

  // `{% raw %}` at `body` (just after "{%" and its modifier)?
  bool raw_block_at(size_t body) const {
    size_t i = body + whitespace_run(src_, body);
    if (src_.compare(i, 3, "raw") != 0 || (i + 3 < src_.size() && is_name_char(src_[i + 3]))) return false;
    return true;
  }

  void lex_raw(size_t tag) {
    // The opening tag: "{%" [-+] ws "raw" ws ("-%}" ws* | "%}"), no trim_blocks newline.
    size_t i = src_.find("raw", tag) + 3;
    i += whitespace_run(src_, i);
    if (src_.compare(i, 3, "-%}") == 0) {
      i += 3;
      i += whitespace_run(src_, i);
    } else if (src_.compare(i, 2, "%}") == 0) {
      i += 2;
    } else {
      error(i, "expected '%}' after 'raw'");
    }
    // The closing tag: "{%" [-+] ws "endraw" ws [-+]? "%}".
    for (size_t end = src_.find("{%", i); end != std::string::npos; end = src_.find("{%", end + 2)) {
      size_t j = end + 2;
      const char open_m = (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) ? src_[j++] : '\0';
      j += whitespace_run(src_, j);
      if (src_.compare(j, 6, "endraw") != 0) continue;
      j += 6;
      j += whitespace_run(src_, j);
      char close_m = '\0';
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) close_m = src_[j++];
      if (src_.compare(j, 2, "%}") != 0) continue;
      std::string_view data = std::string_view(src_).substr(i, end - i);
      if (open_m == '-') {
        data = rstrip_whitespace(data);
      } else if (open_m != '+') {
        const size_t line_start = data.rfind('\n') + 1;
        if (line_start > 0 && all_whitespace(data.substr(line_start))) data = data.substr(0, line_start);
      }
      emit_text(data, i);
      after_tag(j + 2, close_m, true);
      return;
    }
    error(tag, "missing end of raw directive");
  }

  void lex_tag(size_t tag, size_t body, bool variable) {
    tokens_.push_back(Token{variable ? Token::Type::VarBegin : Token::Type::BlockBegin, "", tag});
    const char* close = variable ? "}}" : "%}";
    std::vector<std::pair<char, size_t>> brackets;  // open brackets and where
    size_t i = body;
    while (true) {
      i += whitespace_run(src_, i);
      if (i >= src_.size()) error(tag, variable ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      if (brackets.empty()) {
        // The end of the tag, with an optional modifier ('+' only for blocks).
        char m = '\0';
        size_t j = i;
        if (src_[j] == '-' || (!variable && src_[j] == '+')) m = src_[j++];
        if (src_.compare(j, 2, close) == 0) {
          tokens_.push_back(Token{variable ? Token::Type::VarEnd : Token::Type::BlockEnd, "", i});
          after_tag(j + 2, m, !variable);
          return;
        }
      }
      const char c = src_[i];
      if (is_digit(c)) {
        i = lex_number(i);
      } else if (is_name_start(c)) {
        size_t j = i;
        while (j < src_.size() && is_name_char(src_[j])) ++j;
        tokens_.push_back(Token{Token::Type::Name, src_.substr(i, j - i), i});
        i = j;
      } else if (c == '\'' || c == '"') {
        i = lex_string(i);
      } else {
        i = lex_operator(i, brackets);
      }
    }
  }

  size_t lex_number(size_t start) {
    // Digits with single underscores between them.
    auto digits = [&](size_t i) {
      size_t j = i;
      while (j < src_.size() && is_digit(src_[j])) {
        ++j;
        if (j + 1 < src_.size() && src_[j] == '_' && is_digit(src_[j + 1])) ++j;
      }
      return j;
    };
    size_t i = digits(start);
    bool is_float = false;
    if (i + 1 < src_.size() && src_[i] == '.' && is_digit(src_[i + 1])) {
      is_float = true;
      i = digits(i + 1);
    }
    if (i < src_.size() && (src_[i] == 'e' || src_[i] == 'E')) {
      size_t j = i + 1;
      if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
      if (j < src_.size() && is_digit(src_[j])) {
        is_float = true;
        i = digits(j);
      }
    }
    std::string literal;
    for (size_t k = start; k < i; ++k) {
      if (src_[k] != '_') literal.push_back(src_[k]);
    }
    Token t{is_float ? Token::Type::Float : Token::Type::Int, literal, start};
    if (is_float) {
      t.float_value = std::strtod(literal.c_str(), nullptr);
    } else {
      errno = 0;
      t.int_value = std::strtoll(literal.c_str(), nullptr, 10);
      if (errno == ERANGE) error(start, "integer literal out of range: " + literal);
    }
    tokens_.push_back(std::move(t));
    return i;
  }

  // A Python string literal's escapes: \n \t \r \\ \' \" \a \b \f \v \ooo \xhh \uXXXX \UXXXXXXXX
  // and backslash-newline; any other backslash stays as it is.
  size_t lex_string(size_t start) {
    const char quote = src_[start];
    std::string value;
    size_t i = start + 1;
    auto hex = [&](size_t at, int n) -> int64_t {
      if (at + n > src_.size()) return -1;
      int64_t v = 0;
      for (int k = 0; k < n; ++k) {
        const char h = src_[at + k];
        const int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
      }
      return v;
    };
    while (true) {
      if (i >= src_.size()) error(start, "unexpected end of template: unterminated string");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) error(start, "unexpected end of template: unterminated string");
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n': break;
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'n': value.push_back('\n'); break;
        case 't': value.push_back('\t'); break;
        case 'r': value.push_back('\r'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'v': value.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          const int64_t v = hex(i, n);
          if (v < 0 || v > 0x10FFFF) error(i - 2, fmt::format("invalid \\{} escape in string", e));
          text::append_utf8(value, static_cast<char32_t>(v));
          i += n;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) v = v * 8 + (src_[i++] - '0');
            text::append_utf8(value, static_cast<char32_t>(v));
          } else {
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    tokens_.push_back(Token{Token::Type::String, std::move(value), start});
    return i + 1;
  }

  size_t lex_operator(size_t i, std::vector<std::pair<char, size_t>>& brackets) {
    static constexpr std::array<const char*, 6> two = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : two) {
      if (src_.compare(i, 2, op) == 0) {
        tokens_.push_back(Token{Token::Type::Op, op, i});
        return i + 2;
      }
    }
    const char c = src_[i];
    static constexpr std::string_view singles = "+-/*%~[](){}><=.:|,;";
    if (singles.find(c) == std::string_view::npos) {
      std::string shown;
      text::append_utf8(shown, text::decode(std::string_view(src_).substr(i, 4)).front());
      error(i, fmt::format("unexpected char '{}'", shown));
    }
    if (c == '(' || c == '[' || c == '{') brackets.emplace_back(c, i);
    if (c == ')' || c == ']' || c == '}') {
      const char want = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets.empty()) error(i, fmt::format("unexpected '{}'", c));
      if (brackets.back().first != want) {
        const char expected = brackets.back().first == '(' ? ')' : brackets.back().first == '[' ? ']' : '}';
        error(i, fmt::format("unexpected '{}', expected '{}'", c, expected));
      }
      brackets.pop_back();
    }
    tokens_.push_back(Token{Token::Type::Op, std::string(1, c), i});
    return i + 1;
  }

  const std::string& src_;
  const std::string& name_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

std::vector<Token> lex(const std::string& normalized_source, const std::string& name) {
  return Lexer(normalized_source, name).run();
}

LineColumn line_column(std::string_view source, size_t pos) {
  pos = std::min(pos, source.size());
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < pos; ++i) {
    if (source[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, static_cast<int>(text::length(source.substr(line_start, pos - line_start))) + 1};
}

void throw_template_error(const std::string& name, std::string_view source, size_t pos, const std::string& message,
                          bool raised_by_template) {
  const LineColumn lc = line_column(source, pos);
  // One line, whatever the message (a raise_exception text may span several).
  std::string one_line;
  for (char c : message) {
    if (c == '\n') one_line += "\\n";
    else if (c == '\r') one_line += "\\r";
    else one_line.push_back(c);
  }
  throw TemplateError(fmt::format("{}:{}:{}: {}", name, lc.line, lc.column, one_line), lc.line, lc.column,
                      raised_by_template);
}

}  // namespace qwen3::jinja
