// ECMAScript regular expressions (the subset a grammar can express) -> GBNF.
//
// Supported, with the `u` flag's meaning (ajv compiles JSON Schema `pattern` that way): literals and
// escapes (\t \n \r \v \f \0 \xHH \uHHHH \u{H..} \cX and escaped syntax characters), `.` (any
// character but \n \r U+2028 U+2029), classes \d \D \w \W \s \S, sets [...] and [^...] with ranges,
// groups ( ), (?: ), (?<name> ), alternation |, quantifiers * + ? {m} {m,} {m,n} (lazy forms too:
// laziness does not change which strings match), and the anchors ^ and $ at the two ends of a
// top-level alternative. Everything else -- backreferences, lookahead/lookbehind, word boundaries,
// Unicode property escapes, anchors in the middle -- throws qwen3::Error naming the construct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "grammar/gbnf_text.h"

namespace qwen3::grammar {

struct RegexOptions {
  // Largest m or n accepted in a quantifier {m,n}: the grammar engine expands repetitions.
  uint32_t max_repeat = 10000;
  // regex_to_json_content: the rule that stands for every canonical JSON escape ("" writes them out).
  std::string json_escape_rule;
};

// A whole grammar (`root ::= ...`) whose language is the strings the regex matches in full
// (vLLM's guided_regex: the output is the match; ^ and $ at the ends change nothing).
std::string regex_to_gbnf(std::string_view pattern, const RegexOptions& options = {});

// A GBNF expression for the content of a JSON string (between the quotes, in canonical form:
// gbnf_text.h) whose decoded value the regex matches somewhere, as JSON Schema's `pattern` means:
// an alternative not anchored with ^ may be preceded by any characters, one without $ followed.
// `any_char` is the expression of one such character of any value.
std::string regex_to_json_content(std::string_view pattern, std::string_view any_char,
                                  const RegexOptions& options = {});

// A pattern that is one anchored run of one character set, ^[set]{min,max}$ (also + * ? and a
// plain character): the shape whose intersection with minLength/maxLength is again a run.
struct CharRun {
  CodeSet set;
  uint64_t min = 0;
  std::optional<uint64_t> max;  // absent: unbounded
};
std::optional<CharRun> regex_as_char_run(std::string_view pattern, const RegexOptions& options = {});

}  // namespace qwen3::grammar
