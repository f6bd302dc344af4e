// The parsed form of a GBNF grammar (docs/grammar.md), before it is compiled to an automaton.
// Internal to src/grammar/: the public entry point is compile_grammar() in grammar.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::grammar {

inline constexpr uint32_t kMaxCodepoint = 0x10FFFF;
inline constexpr uint32_t kUnbounded = UINT32_MAX;  // the max of `*`, `+`, `{m,}`

struct CodepointRange {
  uint32_t lo, hi;  // inclusive; never inside the surrogates D800-DFFF
};

struct SourcePos {
  size_t offset = 0;  // bytes into the text; line_column() turns it into "LINE:COL" for errors
};

// "LINE:COL" (both 1-based, the column in bytes) of `offset` in `text`.
std::string line_column(std::string_view text, size_t offset);

struct AstNode {
  enum class Kind { Seq, Alt, Chars, RuleRef, Repeat };
  Kind kind = Kind::Seq;
  std::vector<AstNode> children;        // Seq and Alt: the parts; Repeat: exactly one
  std::vector<CodepointRange> ranges;   // Chars: sorted, disjoint, negation already applied
  uint32_t rule = 0;                    // RuleRef: index into Ast::rules
  uint32_t min = 0, max = 0;            // Repeat: bounds, max may be kUnbounded
  SourcePos pos;
};

struct AstRule {
  std::string name;
  AstNode body;       // an Alt
  SourcePos pos;      // of its definition (or of the first reference while undefined)
  bool defined = false;
};

struct Ast {
  std::vector<AstRule> rules;
  uint32_t root = 0;
};

struct GrammarLimits;

// Parses GBNF text. Throws qwen3::Error "grammar:LINE:COL: what is wrong".
Ast parse_gbnf(std::string_view text, const GrammarLimits& limits);

// The last passes of compile_grammar() (compile_check.cpp): trims states that cannot finish and
// what root does not reach, merges byte ranges, rejects left recursion (errors name `text` positions).
class CompiledGrammar;
void trim_and_check(CompiledGrammar& g, const Ast& ast, std::string_view text);

// Appends the UTF-8 encoding of code point `cp` to `out`.
void append_utf8(uint32_t cp, std::string& out);

}  // namespace qwen3::grammar
