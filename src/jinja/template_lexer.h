// Template source -> tokens, with Jinja2's whitespace control as transformers configures it:
// trim_blocks (the newline after a block or comment tag is dropped), lstrip_blocks (spaces and tabs
// before a block or comment tag at the start of a line are dropped), `-` / `+` modifiers on tags,
// keep_trailing_newline off (one newline at the end of the source is dropped), \r\n and \r read as \n.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::jinja {

struct Token {
  enum class Type {
    Text,        // template data between tags, whitespace control applied
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,
    String,  // value: the literal's text with escapes resolved
    Int,
    Float,
    Op,  // value: the operator, e.g. "//", "(", "|"
    Eof,
  };
  Type type;
  std::string value;
  size_t pos = 0;  // byte offset in the normalised source
  int64_t int_value = 0;
  double float_value = 0;
};

// The source as the lexer reads it: newlines normalised to \n, one trailing newline dropped.
// Token positions refer to this text.
std::string normalize_source(std::string_view source);

// Throws qwen3::TemplateError naming line and column on a lexical error (unterminated string or
// tag, unbalanced brackets, an unexpected character).
std::vector<Token> lex(const std::string& normalized_source, const std::string& name);

// 1-based line and column (in code points) of a byte offset.
struct LineColumn {
  int line;
  int column;
};
LineColumn line_column(std::string_view source, size_t pos);

[[noreturn]] void throw_template_error(const std::string& name, std::string_view source, size_t pos,
                                       const std::string& message, bool raised_by_template = false);

}  // namespace qwen3::jinja
