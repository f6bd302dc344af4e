// JSON Schema -> GBNF: the errors (keyword and JSON pointer named), the shapes of the output, and
// the size limits. What the grammars accept is checked against ajv in tests/grammar/corpus_check.py.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "grammar/json_schema.h"

namespace qwen3::grammar {
namespace {

using nlohmann::ordered_json;

std::string convert(const char* schema, const JsonSchemaOptions& options = {}) {
  return json_schema_to_gbnf(ordered_json::parse(schema), options);
}

// The message of the qwen3::Error that converting `schema` throws ("" when none is thrown).
std::string error_of(const char* schema, const JsonSchemaOptions& options = {}) {
  try {
    convert(schema, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonSchemaTest, UnsupportedKeywordNamesItsPointer) {
  EXPECT_EQ(error_of(R"({"type":"object","properties":{"a":{"type":"integer","multipleOf":5}}})"),
            "/properties/a/multipleOf: unsupported keyword 'multipleOf'");
  EXPECT_EQ(error_of(R"({"not":{"type":"string"}})"), "/not: unsupported keyword 'not'");
  EXPECT_EQ(error_of(R"({"type":"array","items":{"properties":{"a/b":{"minProperties":1}}}})"),
            "/items/properties/a~1b/minProperties: unsupported keyword 'minProperties'");
  EXPECT_EQ(error_of(R"({"anyOf":[{"type":"string"},{"patternProperties":{}}]})"),
            "/anyOf/1/patternProperties: unsupported keyword 'patternProperties'");
  EXPECT_EQ(error_of(R"({"type":"array","uniqueItems":true})"), "/uniqueItems: unsupported keyword 'uniqueItems' (true)");
  EXPECT_EQ(error_of(R"({"$defs":{"x":{"if":{}}},"$ref":"#/$defs/x"})"), "/$defs/x/if: unsupported keyword 'if'");
}

TEST(JsonSchemaTest, AnnotationsAreIgnored) {
  const std::string plain = convert(R"({"type":"integer"})");
  EXPECT_EQ(convert(R"({"type":"integer","title":"t","description":"d","examples":[1],"$schema":"x","$id":"y",
                       "default":0,"$comment":"c","deprecated":true,"readOnly":true,"writeOnly":false})"),
            plain);
}

TEST(JsonSchemaTest, CompactObjectInSchemaOrder) {
  const std::string g = convert(R"({"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}},
                                    "required":["b","a"],"additionalProperties":false})");
  EXPECT_EQ(g,
            "root ::= schema\n"
            "schema ::= \"{\" \"\\\"b\\\"\" \":\" string \",\" \"\\\"a\\\"\" \":\" integer \"}\"\n"
            "char ::= ([^\"\\\\\\x00-\\x1F] | escape)\n"
            "escape ::= \"\\\\\" ([\"\\\\bfnrt] | \"u00\" (\"0\" [0-7bef] | \"1\" [0-9a-f]))\n"
            "integer ::= \"-\"? (\"0\" | [1-9] [0-9]*)\n"
            "string ::= \"\\\"\" char* \"\\\"\"\n");
}

TEST(JsonSchemaTest, OptionalPropertiesAndAdditionalOnes) {
  const std::string g = convert(R"({"type":"object","properties":{"a":{"type":"null"},"b":{"type":"boolean"}}})");
  // Either optional one may come first; additional properties follow under a key that is not a or b.
  EXPECT_NE(g.find("\"\\\"a\\\"\" \":\" null (\",\" \"\\\"b\\\"\" \":\" boolean)?"), std::string::npos) << g;
  EXPECT_NE(g.find("| \"\\\"b\\\"\" \":\" boolean"), std::string::npos) << g;
  EXPECT_NE(g.find("\":\" value)*"), std::string::npos) << g;
  // additionalProperties false: no extra members at all.
  const std::string closed = convert(R"({"type":"object","properties":{"a":{"type":"null"}},"additionalProperties":false})");
  EXPECT_EQ(closed.find("value"), std::string::npos) << closed;
}

TEST(JsonSchemaTest, FlexibleWhitespaceIsBounded) {
  JsonSchemaOptions o{.whitespace = Whitespace::Flexible, .max_whitespace = 8};
  const std::string g = convert(R"({"type":"array","items":{"type":"integer"}})", o);
  EXPECT_NE(g.find("ws ::= [ \\t\\n]{0,8}\n"), std::string::npos) << g;
  EXPECT_NE(g.find("root ::= ws "), std::string::npos) << g;
}

TEST(JsonSchemaTest, AnyJsonObject) {
  const std::string g = json_object_gbnf();
  EXPECT_EQ(g.rfind("root ::= object\n", 0), 0u) << g;
  EXPECT_NE(g.find("object ::= \"{\" (string \":\" value (\",\" string \":\" value)*)? \"}\""), std::string::npos) << g;
  EXPECT_EQ(json_object_gbnf({}, false).rfind("root ::= value\n", 0), 0u);
}

TEST(JsonSchemaTest, RecursiveRefsBecomeRules) {
  const std::string g = convert(R"({"$defs":{"node":{"type":"object","properties":{"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},
                                    "required":["next"],"additionalProperties":false}},"$ref":"#/$defs/node"})");
  EXPECT_EQ(g.rfind("root ::= node\n", 0), 0u) << g;
  EXPECT_NE(g.find("node ::= \"{\" \"\\\"next\\\"\" \":\" (node | null) \"}\""), std::string::npos) << g;
}

TEST(JsonSchemaTest, RefErrors) {
  EXPECT_NE(error_of(R"({"$ref":"https://example.com/s.json"})").find("remote refs are unsupported"), std::string::npos);
  EXPECT_NE(error_of(R"({"$ref":"#/$defs/missing"})").find("points to nothing"), std::string::npos);
  EXPECT_NE(error_of(R"({"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}},"$ref":"#/$defs/a"})").find("left recursion"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"$defs":{"a":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"})").find("nested deeper"),
            std::string::npos);
}

TEST(JsonSchemaTest, OneOfIsReadAsAnyOf) {
  EXPECT_EQ(convert(R"({"oneOf":[{"type":"string"},{"type":"integer"}]})"),
            convert(R"({"anyOf":[{"type":"string"},{"type":"integer"}]})"));
}

TEST(JsonSchemaTest, AllOfMergesObjects) {
  const std::string g = convert(R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
                                            {"properties":{"b":{"type":"string"}},"required":["b"]}]})");
  EXPECT_NE(g.find("\"{\" \"\\\"a\\\"\" \":\" integer \",\" \"\\\"b\\\"\" \":\" string"), std::string::npos) << g;
  // additionalProperties false in the second part forbids the first part's required a.
  EXPECT_NE(error_of(R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
                                  {"properties":{"b":{"type":"string"}},"additionalProperties":false}]})")
                .find("required property 'a' has the schema false"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"allOf":[{"type":"string"},{"type":"integer"}]})").find("nothing in common"), std::string::npos);
  EXPECT_NE(error_of(R"({"allOf":[{"pattern":"a"},{"pattern":"b"}]})").find("two different 'pattern'"), std::string::npos);
}

TEST(JsonSchemaTest, EnumAndConstLiterals) {
  EXPECT_EQ(convert(R"({"enum":["a\"b",1,2.5,null,[true]]})"),
            "root ::= (\"\\\"a\\\\\\\"b\\\"\" | \"1\" | \"2.5\" | \"null\" | (\"[\" \"true\" \"]\"))\n");
  EXPECT_EQ(convert(R"({"const":3.0})"), "root ::= \"3\"\n");
  EXPECT_EQ(convert(R"({"type":"string","enum":["x",1]})"), "root ::= \"\\\"x\\\"\"\n");
  EXPECT_NE(error_of(R"({"enum":["x"],"minLength":1})").find("'minLength' beside enum/const"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"integer","enum":["x"]})").find("no value of enum/const"), std::string::npos);
  EXPECT_NE(error_of(R"({"enum":["a"],"const":"b"})").find("no value of enum/const"), std::string::npos);
  EXPECT_EQ(convert(R"({"enum":["a","b"],"const":"b"})"), "root ::= \"\\\"b\\\"\"\n");
}

TEST(JsonSchemaTest, IntegerRangesAreDigitGrammars) {
  EXPECT_EQ(convert(R"({"type":"integer","minimum":1,"maximum":12})"),
            "root ::= integer-range\ninteger-range ::= ([1-9] | \"1\" [0-2])\n");
  EXPECT_NE(convert(R"({"type":"integer","minimum":-5})").find("\"-\" [1-5]"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"integer","minimum":1e300})").find("beyond +-1e15"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"number","maximum":0.5})").find("non-integer bound"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"integer","minimum":3,"maximum":2})").find("no integer"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"number","exclusiveMinimum":true})").find("draft-04 boolean form"), std::string::npos);
}

TEST(JsonSchemaTest, StringsFormatsAndPatterns) {
  EXPECT_NE(convert(R"({"type":"string","minLength":2,"maxLength":5})").find("\"\\\"\" char{2,5} \"\\\"\""), std::string::npos);
  EXPECT_NE(convert(R"({"type":"string","format":"date-time"})").find("fmt-date-time ::= fmt-date [tT] fmt-time"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"type":"string","format":"uri"})").rfind("/format: unsupported format 'uri'", 0), 0u);
  EXPECT_EQ(convert(R"({"type":"string","format":"uri"})", {.unknown_format = UnknownFormat::Ignore}).rfind("root ::= string\n", 0), 0u);
  EXPECT_NE(convert(R"({"type":"string","pattern":"^[a-z]+$"})").find("pattern ::= \"\\\"\" [a-z]+ \"\\\"\""), std::string::npos);
  EXPECT_NE(convert(R"({"type":"string","pattern":"ab"})").find("char* \"ab\" char*"), std::string::npos);
  EXPECT_EQ(error_of(R"j({"properties":{"p":{"pattern":"(?=a)"}}})j").rfind("/properties/p/pattern: regex /(?=a)/: unsupported construct: lookahead", 0),
            0u);
}

TEST(JsonSchemaTest, LengthsBesidePatternOrFormat) {
  // An anchored run of one set meets minLength/maxLength in one repetition.
  EXPECT_NE(convert(R"({"type":"string","pattern":"^[a-z]+$","minLength":2,"maxLength":5})").find("pattern ::= \"\\\"\" [a-z]{2,5} \"\\\"\""),
            std::string::npos);
  EXPECT_NE(convert(R"({"type":"string","pattern":"^[a-z]{3,9}$","maxLength":4})").find("[a-z]{3,4}"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"string","pattern":"^ab+$","maxLength":4})").find("supported only for ^[set]{m,n}$"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"string","pattern":"^[a]{5}$","maxLength":4})").find("leave no string"), std::string::npos);
  // A format whose strings all fit the lengths: the lengths change nothing.
  EXPECT_EQ(convert(R"({"type":"string","format":"date","minLength":10,"maxLength":12})"), convert(R"({"type":"string","format":"date"})"));
  EXPECT_NE(error_of(R"({"type":"string","format":"email","maxLength":64})").find("that bound it"), std::string::npos);
}

TEST(JsonSchemaTest, ArraysShapes) {
  EXPECT_EQ(convert(R"({"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":3})"),
            "root ::= schema\nschema ::= \"[\" boolean (\",\" boolean){0,2} \"]\"\nboolean ::= \"true\" | \"false\"\n");
  EXPECT_NE(convert(R"({"type":"array","prefixItems":[{"type":"null"},{"type":"boolean"}],"items":false})")
                .find("\"[\" (null (\",\" boolean)?)? \"]\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"type":"array","prefixItems":[true],"items":false,"minItems":2})").find("no array length"), std::string::npos);
}

TEST(JsonSchemaTest, SizeLimits) {
  std::string big_enum = R"({"enum":[)";
  for (int i = 0; i < 2000; ++i) big_enum.append(i ? "," : "").append(std::to_string(i));
  big_enum += "]}";
  EXPECT_NE(error_of(big_enum.c_str()).find("over the limit of 1000"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"array","minItems":20000})").find("repetition limit"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"string","pattern":"a{20000}"})").find("over the limit"), std::string::npos);
  std::string deep = R"({"type":"string"})";
  for (int i = 0; i < 100; ++i) deep = std::string(R"({"type":"array","items":)").append(deep).append("}");
  EXPECT_NE(error_of(deep.c_str()).find("nested deeper than 64"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"array","maxItems":1}}}}})",
                     {.max_rules = 2})
                .find("max_rules"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"enum":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]})", {.max_bytes = 40}).find("max_bytes"),
            std::string::npos);
}

TEST(JsonSchemaTest, BadSchemasAreErrors) {
  EXPECT_NE(error_of("false").find("matches nothing"), std::string::npos);
  EXPECT_NE(error_of("3").find("must be an object or a boolean"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"strin"})").find("unknown type"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"string","minLength":-1})").find("/minLength: must be a non-negative integer"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"object","properties":{"a":false},"required":["a"]})").find("schema false"), std::string::npos);
  EXPECT_EQ(convert("true").rfind("root ::= value\n", 0), 0u);
  // Values of the wrong JSON type anywhere: always qwen3::Error, never another exception.
  for (const char* bad : {R"({"required":"a","type":"object"})", R"({"properties":[]})", R"({"minItems":"3","type":"array"})",
                          R"({"enum":3})", R"({"items":3,"type":"array"})", R"({"type":3})", R"({"type":"string","pattern":3})",
                          R"({"type":"string","format":3})", R"({"type":"object","additionalProperties":3})", R"({"$ref":3})",
                          R"({"allOf":{}})", R"({"anyOf":[]})", R"({"type":"array","prefixItems":{}})", R"({"type":"integer","minimum":"x"})",
                          R"({"properties":{"a":3}})", R"({"allOf":[{"required":"a"},{"required":["b"]}]})",
                          R"({"allOf":[{"type":3},{"type":"string"}]})", R"({"$defs":{"a":[1]},"$ref":"#/$defs/a/99999999999999999999"})",
                          R"({"allOf":[{"minimum":"a"},{"minimum":2}]})", R"({"type":"string","maxLength":1.5})",
                          R"({"allOf":[{"properties":3},{"properties":{"a":true}}]})", R"({"oneOf":[1]})"}) {
    EXPECT_THROW(convert(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace qwen3::grammar
