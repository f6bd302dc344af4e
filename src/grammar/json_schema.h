// JSON Schema -> GBNF (llama.cpp's grammar syntax), for structured output: response_format
// json_schema, tool-call arguments, vLLM's guided_json. The grammar's language is the schema's
// valid instances written as compact JSON (or with bounded whitespace), never a looser one: a
// keyword we cannot express throws qwen3::Error naming it and its JSON pointer, e.g.
//   /properties/a/multipleOf: unsupported keyword 'multipleOf'
// What is supported, and where the grammar is deliberately stricter than JSON itself, is listed in
// docs/structured-output.md. In short:
//   - the schema is a draft 2020-12 / draft-07 document; keywords of both spellings are read
//     (`$defs` and `definitions`, `prefixItems` and array-form `items` + `additionalItems`);
//   - an object's properties come in the order the schema lists them (ordered_json keeps it);
//     optional ones may be left out; additional properties (allowed unless additionalProperties is
//     false, as vLLM's users expect) come after the listed ones and never reuse a listed name;
//   - oneOf is read as anyOf (an instance matching two branches is accepted);
//   - strings are written in canonical JSON form (raw UTF-8; only the escapes JSON.stringify
//     writes); numbers without leading zeros; integers without a fraction or exponent.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace qwen3::grammar {

enum class Whitespace {
  Compact,   // no whitespace at all, like OpenAI's structured outputs
  Flexible,  // up to max_whitespace of [ \t\n] wherever JSON allows whitespace
};

enum class UnknownFormat {
  Error,   // a `format` we cannot express is an error (the default: never looser than asked)
  Ignore,  // treated as an annotation (the grammar then accepts any string)
};

struct JsonSchemaOptions {
  Whitespace whitespace = Whitespace::Compact;
  uint32_t max_whitespace = 20;
  UnknownFormat unknown_format = UnknownFormat::Error;
  // Bounds on the output; past them the conversion fails with an error saying which.
  size_t max_rules = 5000;
  size_t max_bytes = 1 << 20;
  uint32_t max_repeat = 10000;       // minLength/maxLength/minItems/maxItems and regex {m,n}
  uint32_t max_depth = 64;           // nesting of schemas while converting
  size_t max_alternatives = 1000;    // enum values, and anyOf branches after distributing
};

// The grammar (rule `root`) of the JSON values the schema accepts.
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema, const JsonSchemaOptions& options = {});

// Any JSON object (response_format {"type": "json_object"}); any JSON value with `object_only` false.
std::string json_object_gbnf(const JsonSchemaOptions& options = {}, bool object_only = true);

}  // namespace qwen3::grammar
