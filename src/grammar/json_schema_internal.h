// The JSON Schema converter's state, shared by json_schema*.cpp. Not part of the API.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "grammar/json_schema.h"

namespace qwen3::grammar::detail {

using Json = nlohmann::ordered_json;

// A JSON pointer with one more reference token (escaped: ~ -> ~0, / -> ~1).
std::string pointer_append(const std::string& path, std::string_view token);
bool is_annotation(std::string_view keyword);
// The assertions of `s` other than those named in `except`.
bool has_assertions(const Json& s, std::initializer_list<std::string_view> except);
// Fails naming the first keyword of `s` the converter does not read.
void check_keywords(const Json& s, const std::string& path);
// Fails on a `format` the converter does not know (unless options say to ignore it).
void check_format(const Json& s, const std::string& path, UnknownFormat unknown);
// s[key] as a non-negative integer (minLength, maxItems, ...), or an error naming it.
uint64_t read_count(const Json& s, const char* key, const std::string& path);

struct MemberExpr {
  std::string expr;  // "key" : value
  bool required;
};

class Converter {
 public:
  Converter(const Json& doc, const JsonSchemaOptions& options);
  std::string convert();                                     // the whole grammar, rule root first

  // A GBNF expression for the schema at `path` (a JSON pointer into the document, for messages).
  std::string visit(const Json& s, const std::string& path, const std::string& hint);

  // json_schema_scalars.cpp
  std::string string_branch(const Json& s, const std::string& path);
  std::string number_branch(const Json& s, const std::string& path, bool integer);
  std::string literal(const Json& value);  // exactly this JSON value
  // json_schema_objects.cpp
  std::string object_branch(const Json& s, const std::string& path, const std::string& hint);
  std::string array_branch(const Json& s, const std::string& path, const std::string& hint);
  std::string object_members(const std::vector<MemberExpr>& members, const std::string& extra, const std::string& hint);
  // json_schema_merge.cpp: allOf, and a $ref or anyOf that has sibling assertions.
  Json merge(const std::vector<Json>& parts, const std::string& path, uint32_t depth = 0);
  const Json& resolve_ref(const Json& ref, const std::string& path) const;

  // Rules: a name made from `hint` (unique), then its body.
  std::string add_rule(const std::string& hint, const std::string& body);
  std::string reserve_rule(const std::string& hint);
  void define_rule(const std::string& name, const std::string& body);
  std::string builtin(const std::string& name);  // value, object, string, char, number, ... (on demand)
  // "c" with the whitespace allowed around it ("" in compact mode).
  std::string punct(std::string_view c) const;
  std::string alternatives(const std::vector<std::string>& alts) const;
  std::string repeat(const std::string& expr, uint64_t min, std::optional<uint64_t> max) const;
  void check_repeat(uint64_t n, const std::string& path) const;
  const JsonSchemaOptions& options() const { return options_; }

 private:
  std::string ref_rule(const Json& ref, const std::string& path);
  std::string visit_typed(const Json& s, const std::string& path, const std::string& hint);
  std::string visit_enum(const Json& s, const std::string& path);
  std::string visit_any_of(const Json& s, const std::string& path, const std::string& hint);
  void account(size_t bytes);

  const Json& doc_;
  const JsonSchemaOptions& options_;
  std::vector<std::string> order_;               // rule names in the order they were made
  std::map<std::string, std::string> bodies_;
  std::set<std::string> builtins_used_;
  std::map<std::string, std::string> ref_names_;  // JSON pointer -> rule name
  std::vector<std::string> left_refs_;            // $refs entered since the last '{' or '['
  uint32_t depth_ = 0;
  size_t bytes_ = 0;

  friend struct LeftScope;
};

// While alive, $refs entered count as guarded by a consumed '{' or '[' (no left recursion).
struct LeftScope {
  explicit LeftScope(Converter& c) : c_(c), saved_(std::move(c.left_refs_)) { c.left_refs_.clear(); }
  ~LeftScope() { c_.left_refs_ = std::move(saved_); }
  Converter& c_;
  std::vector<std::string> saved_;
};

}  // namespace qwen3::grammar::detail
