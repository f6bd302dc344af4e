// Putting GBNF grammars together: several converted grammars (each with its own `root`) become
// rules of one larger grammar (structured output's tool calls: one JSON Schema per tool).
#pragma once

#include <string>
#include <string_view>

namespace qwen3::grammar {

// The same grammar with every rule name (definitions and references) prefixed: `root` becomes
// `<prefix>root`. Literals, character classes and comments are left as they are. Throws
// qwen3::Error for an unterminated literal or class.
std::string prefix_gbnf_rules(std::string_view gbnf, std::string_view prefix);

}  // namespace qwen3::grammar
