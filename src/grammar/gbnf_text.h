// Writing GBNF text (llama.cpp's grammar syntax): quoted literals, character classes over code
// points, and the one-character expressions of canonical JSON string content. Shared by the JSON
// Schema converter and the regex converter; the grammar engine parses what these write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::grammar {

// A set of Unicode code points as sorted, disjoint, non-adjacent inclusive ranges.
struct CodeRange {
  uint32_t lo;
  uint32_t hi;
  bool operator==(const CodeRange&) const = default;
};
using CodeSet = std::vector<CodeRange>;

inline constexpr uint32_t kMaxCodePoint = 0x10FFFF;

CodeSet normalized(CodeSet set);                   // sorts and merges
CodeSet complement(const CodeSet& set);            // within [0, 0x10FFFF] minus the surrogates
CodeSet set_union(const CodeSet& a, const CodeSet& b);
CodeSet set_minus(const CodeSet& a, const CodeSet& b);
bool contains(const CodeSet& set, uint32_t cp);

// Decodes UTF-8 into code points; throws qwen3::Error on malformed input.
std::vector<uint32_t> decode_utf8(std::string_view text);
void append_utf8(std::string& out, uint32_t cp);

// "text" as a GBNF literal: quotes, backslashes and control characters escaped, other characters
// (UTF-8) written as they are.
std::string gbnf_literal(std::string_view utf8);
// root ::= "a" | "b" | ... : exactly one of the given texts (vLLM's guided_choice). Throws
// qwen3::Error for an empty list.
std::string choice_gbnf(const std::vector<std::string>& choices);
// [a-z...] for a non-empty set (written with \x / \u / \U escapes where a character would be unclear).
std::string gbnf_class(const CodeSet& set);

// One character of the content of a JSON string, written in the canonical form that
// JSON.stringify and json.dumps(ensure_ascii=False) write, whose decoded value lies in `set`: the
// character itself, except `"` -> \", `\` -> \\, \b \f \n \r \t, and the other controls as \u00xx
// (lower-case hex). Surrogates cannot be written. Returns "" when no character can be written.
// `all_escapes` names the expression written when the set holds every escaped character (a rule
// such as `escape`); by default the escapes are written out.
std::string json_char_expr(const CodeSet& set, std::string_view all_escapes = "");
// Every canonical escape: "\" (["\bfnrt] | "u00" ...), for the controls without a short form.
std::string json_escape_expr();
// Whether a GBNF expression is one item a quantifier may follow as it is: a rule name, a literal,
// a class or one parenthesized group.
bool gbnf_is_atom(std::string_view expr);

// The canonical JSON text of a string's content (without the quotes), as a GBNF literal body.
std::string json_string_content(std::string_view utf8);

}  // namespace qwen3::grammar
