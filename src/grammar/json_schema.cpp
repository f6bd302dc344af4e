// JSON Schema -> GBNF: the walk over the schema (types, $ref, anyOf, enum) and the rule table.
// Strings and numbers are in json_schema_scalars.cpp, objects and arrays in json_schema_objects.cpp,
// allOf in json_schema_merge.cpp.
#include "grammar/json_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"
#include "grammar/gbnf_text.h"
#include "grammar/json_schema_internal.h"

namespace qwen3::grammar {

namespace detail {

namespace {

constexpr std::array<std::string_view, 13> kAnnotations = {
    "title", "description", "examples", "$schema", "$id", "default", "$comment", "deprecated",
    "readOnly", "writeOnly", "$defs", "definitions", "contentMediaType"};

// Every keyword the converter reads; any other is refused.
constexpr std::array<std::string_view, 24> kSupported = {
    "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "properties", "required",
    "additionalProperties", "items", "prefixItems", "additionalItems", "minItems", "maxItems",
    "uniqueItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum"};

constexpr std::array<std::string_view, 7> kTypes = {"object", "array", "string", "number", "integer", "boolean", "null"};

bool is_supported(std::string_view k) {
  return std::find(kSupported.begin(), kSupported.end(), k) != kSupported.end();
}

}  // namespace

void check_keywords(const Json& s, const std::string& path) {
  for (const auto& [k, v] : s.items()) {
    if (is_annotation(k)) continue;
    if (!is_supported(k)) fail("{}: unsupported keyword '{}'", pointer_append(path, k), k);
    if (k == "uniqueItems" && v == true) fail("{}: unsupported keyword 'uniqueItems' (true)", pointer_append(path, k));
  }
}

namespace {

// The types the schema allows: `type` as a string or array; all of them when absent.
std::set<std::string> allowed_types(const Json& s, const std::string& path) {
  std::set<std::string> out;
  if (!s.contains("type")) return {kTypes.begin(), kTypes.end()};
  const Json& t = s["type"];
  const Json list = t.is_array() ? t : Json::array({t});
  for (const Json& e : list) {
    if (!e.is_string() || std::find(kTypes.begin(), kTypes.end(), e.get<std::string>()) == kTypes.end()) {
      fail("{}: unknown type {}", pointer_append(path, "type"), e.dump());
    }
    out.insert(e.get<std::string>());
  }
  if (out.count("number")) out.erase("integer");  // integer is a subset of number
  if (out.empty()) fail("{}: an empty type list matches nothing", pointer_append(path, "type"));
  return out;
}

bool value_has_type(const Json& v, const std::set<std::string>& types) {
  switch (v.type()) {
    case Json::value_t::object: return types.count("object") > 0;
    case Json::value_t::array: return types.count("array") > 0;
    case Json::value_t::string: return types.count("string") > 0;
    case Json::value_t::boolean: return types.count("boolean") > 0;
    case Json::value_t::null: return types.count("null") > 0;
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      return types.count("number") > 0 || (types.count("integer") > 0 && d == static_cast<double>(static_cast<int64_t>(d)));
    }
    default: return types.count("number") > 0 || types.count("integer") > 0;  // integers
  }
}

std::string sanitize(std::string_view hint) {
  std::string out;
  for (char c : hint) {
    const char l = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) {
      out += l;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
    if (out.size() >= 40) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "r" : out;
}

}  // namespace

std::string pointer_append(const std::string& path, std::string_view token) {
  std::string out = path + "/";
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

bool is_annotation(std::string_view k) {
  return std::find(kAnnotations.begin(), kAnnotations.end(), k) != kAnnotations.end();
}

bool has_assertions(const Json& s, std::initializer_list<std::string_view> except) {
  if (!s.is_object()) return false;
  for (const auto& [k, v] : s.items()) {
    if (!is_annotation(k) && std::find(except.begin(), except.end(), k) == except.end()) return true;
  }
  return false;
}

uint64_t read_count(const Json& s, const char* key, const std::string& path) {
  const Json& v = s[key];
  if (!v.is_number() || v.get<double>() < 0 || std::floor(v.get<double>()) != v.get<double>()) {
    fail("{}: must be a non-negative integer", pointer_append(path, key));
  }
  return v.is_number_float() ? static_cast<uint64_t>(std::min(v.get<double>(), 1e18)) : v.get<uint64_t>();
}

Converter::Converter(const Json& doc, const JsonSchemaOptions& options) : doc_(doc), options_(options) {
  for (const char* b : {"root", "value", "object", "array", "string", "char", "number", "integer", "boolean", "null", "ws", "escape"}) {
    bodies_[b] = "";  // reserved names
  }
}

std::string Converter::visit(const Json& s, const std::string& path, const std::string& hint) {
  if (++depth_ > options_.max_depth) fail("{}: schema nested deeper than {} levels", path.empty() ? "/" : path, options_.max_depth);
  struct Leave {
    uint32_t& d;
    ~Leave() { --d; }
  } leave{depth_};
  if (s.is_boolean()) {
    if (s.get<bool>()) return builtin("value");
    fail("{}: the schema false matches nothing", path.empty() ? "/" : path);
  }
  if (!s.is_object()) fail("{}: a schema must be an object or a boolean", path.empty() ? "/" : path);
  check_keywords(s, path);
  if (s.contains("$ref")) {
    if (!has_assertions(s, {"$ref"})) return ref_rule(s["$ref"], pointer_append(path, "$ref"));
    Json rest = s;
    rest.erase("$ref");
    return visit(merge({Json{{"$ref", s["$ref"]}}, rest}, path), path, hint);
  }
  if (s.contains("allOf")) return visit(merge({s}, path), path, hint);
  if (s.contains("anyOf") || s.contains("oneOf")) return visit_any_of(s, path, hint);
  if (s.contains("enum") || s.contains("const")) return visit_enum(s, path);
  return visit_typed(s, path, hint);
}

std::string Converter::visit_any_of(const Json& s, const std::string& path, const std::string& hint) {
  if (s.contains("anyOf") && s.contains("oneOf")) {
    Json a = s, b = s;
    a.erase("oneOf");
    b.erase("anyOf");
    return visit(merge({a, b}, path), path, hint);
  }
  const std::string key = s.contains("anyOf") ? "anyOf" : "oneOf";
  const Json& branches = s[key];
  const std::string kpath = pointer_append(path, key);
  if (!branches.is_array() || branches.empty()) fail("{}: must be a non-empty array", kpath);
  if (branches.size() > options_.max_alternatives) fail("{}: {} branches, over the limit of {}", kpath, branches.size(), options_.max_alternatives);
  Json rest = s;
  rest.erase(key);
  const bool distribute = has_assertions(rest, {});
  std::vector<std::string> alts;
  for (size_t i = 0; i < branches.size(); ++i) {
    const std::string bpath = pointer_append(kpath, std::to_string(i));
    alts.push_back(distribute ? visit(merge({rest, branches[i]}, bpath), bpath, hint) : visit(branches[i], bpath, hint));
  }
  std::sort(alts.begin(), alts.end());
  alts.erase(std::unique(alts.begin(), alts.end()), alts.end());
  return alternatives(alts);
}

std::string Converter::visit_enum(const Json& s, const std::string& path) {
  // Only `type` may stand beside enum/const: any other assertion would need a validator of values.
  for (const auto& [k, v] : s.items()) {
    if (k != "enum" && k != "const" && k != "type" && !is_annotation(k)) {
      fail("{}: '{}' beside enum/const is not supported", pointer_append(path, k), k);
    }
  }
  const std::set<std::string> types = allowed_types(s, path);
  std::vector<Json> values;
  if (s.contains("enum")) {
    if (!s["enum"].is_array()) fail("{}: must be an array", pointer_append(path, "enum"));
    for (const Json& v : s["enum"]) values.push_back(v);
  }
  if (s.contains("const")) {
    const bool in_enum = !s.contains("enum") || std::find(values.begin(), values.end(), s["const"]) != values.end();
    values.clear();
    if (in_enum) values.push_back(s["const"]);
  }
  if (values.size() > options_.max_alternatives) {
    fail("{}: {} values, over the limit of {}", pointer_append(path, "enum"), values.size(), options_.max_alternatives);
  }
  std::vector<std::string> alts;
  for (const Json& v : values) {
    if (value_has_type(v, types)) alts.push_back(literal(v));
  }
  if (alts.empty()) fail("{}: no value of enum/const satisfies the schema", path.empty() ? "/" : path);
  return alternatives(alts);
}

std::string Converter::visit_typed(const Json& s, const std::string& path, const std::string& hint) {
  const std::set<std::string> types = allowed_types(s, path);
  check_format(s, path, options_.unknown_format);
  std::vector<std::string> alts;
  if (types.count("object")) alts.push_back(object_branch(s, path, hint));
  if (types.count("array")) alts.push_back(array_branch(s, path, hint));
  if (types.count("string")) alts.push_back(string_branch(s, path));
  if (types.count("number")) alts.push_back(number_branch(s, path, false));
  if (types.count("integer")) alts.push_back(number_branch(s, path, true));
  if (types.count("boolean")) alts.push_back(builtin("boolean"));
  if (types.count("null")) alts.push_back(builtin("null"));
  return alternatives(alts);
}

std::string Converter::ref_rule(const Json& ref, const std::string& path) {
  if (!ref.is_string()) fail("{}: must be a string", path);
  const std::string ptr = ref.get<std::string>();
  if (std::find(left_refs_.begin(), left_refs_.end(), ptr) != left_refs_.end()) {
    fail("{}: \"{}\" refers to itself before any '{{' or '[' (left recursion matches nothing finite)", path, ptr);
  }
  if (auto it = ref_names_.find(ptr); it != ref_names_.end()) return it->second;
  const Json& target = resolve_ref(ref, path);
  const size_t slash = ptr.find_last_of('/');
  const std::string name = reserve_rule(slash == std::string::npos || slash + 1 == ptr.size() ? "ref" : ptr.substr(slash + 1));
  ref_names_[ptr] = name;
  left_refs_.push_back(ptr);
  const std::string body = visit(target, ptr.size() > 1 ? ptr.substr(1) : "", name);
  left_refs_.pop_back();
  // A body that is just the rule made for it (an object, an array) takes that rule's place, so
  // that the grammar reads `node ::= "{" ...` rather than `node ::= node-2`.
  const auto made = std::find(order_.begin(), order_.end(), body);
  const bool fresh = made != order_.end() && made > std::find(order_.begin(), order_.end(), name) &&
                     std::none_of(ref_names_.begin(), ref_names_.end(), [&body](const auto& r) { return r.second == body; });
  if (fresh) {
    define_rule(name, bodies_[body]);
    bodies_.erase(body);
    order_.erase(made);
  } else {
    define_rule(name, body);
  }
  return name;
}

std::string Converter::reserve_rule(const std::string& hint) {
  std::string base = sanitize(hint);
  std::string name = base;
  for (int i = 2; bodies_.count(name); ++i) name = fmt::format("{}-{}", base, i);
  bodies_[name] = "";
  order_.push_back(name);
  if (order_.size() > options_.max_rules) fail("the grammar needs more than {} rules (max_rules)", options_.max_rules);
  return name;
}

void Converter::define_rule(const std::string& name, const std::string& body) {
  bodies_[name] = body;
  account(name.size() + body.size() + 6);
}

std::string Converter::add_rule(const std::string& hint, const std::string& body) {
  const std::string name = reserve_rule(hint);
  define_rule(name, body);
  return name;
}

void Converter::account(size_t bytes) {
  bytes_ += bytes;
  if (bytes_ > options_.max_bytes) fail("the grammar is larger than {} bytes (max_bytes)", options_.max_bytes);
}

std::string Converter::punct(std::string_view c) const {
  const std::string lit = gbnf_literal(c);
  if (options_.whitespace == Whitespace::Compact) return lit;
  // Whitespace after an opening bracket, before a closing one, around , and : -- so one run of
  // whitespace between any two tokens (two runs only inside an empty [] or {}).
  if (c == "{" || c == "[") return lit + " ws";
  if (c == "}" || c == "]") return "ws " + lit;
  return "ws " + lit + " ws";
}

std::string Converter::alternatives(const std::vector<std::string>& alts) const {
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out + ")";
}

std::string Converter::repeat(const std::string& expr, uint64_t min, std::optional<uint64_t> max) const {
  if (max && *max == 0) return "\"\"";
  const std::string x = gbnf_is_atom(expr) ? expr : "(" + expr + ")";
  if (!max) return min == 0 ? x + "*" : min == 1 ? x + "+" : fmt::format("{}{{{},}}", x, min);
  if (min == *max) return min == 1 ? x : fmt::format("{}{{{}}}", x, min);
  if (min == 0 && *max == 1) return x + "?";
  return fmt::format("{}{{{},{}}}", x, min, *max);
}

void Converter::check_repeat(uint64_t n, const std::string& path) const {
  if (n > options_.max_repeat) fail("{}: {} is over the repetition limit of {} (max_repeat)", path, n, options_.max_repeat);
}

std::string Converter::builtin(const std::string& name) {
  if (builtins_used_.insert(name).second) {
    if (name == "value") {
      for (const char* n : {"object", "array", "string", "number", "boolean", "null"}) builtin(n);
    } else if (name == "object" || name == "array") {
      builtin("value");
      builtin("string");
    } else if (name == "string") {
      builtin("char");
    } else if (name == "char") {
      builtin("escape");
    }
    if (options_.whitespace == Whitespace::Flexible) builtins_used_.insert("ws");
  }
  return name;
}

std::string Converter::convert() {
  const std::string root = visit(doc_, "", "schema");
  const std::string ws = options_.whitespace == Whitespace::Compact ? "" : "ws ";
  bodies_["root"] = ws + root + (ws.empty() ? "" : " ws");
  if (!ws.empty()) builtins_used_.insert("ws");
  std::string out = "root ::= " + bodies_["root"] + "\n";
  for (const std::string& n : order_) out += n + " ::= " + bodies_[n] + "\n";
  const std::string sep = punct(",");
  const std::string colon = punct(":");
  const std::map<std::string, std::string> builtin_bodies = {
      {"value", "object | array | string | number | boolean | null"},
      {"object", fmt::format("{} (string {} value ({} string {} value)*)? {}", punct("{"), colon, sep, colon, punct("}"))},
      {"array", fmt::format("{} (value ({} value)*)? {}", punct("["), sep, punct("]"))},
      {"string", "\"\\\"\" char* \"\\\"\""},
      {"char", json_char_expr({{0, kMaxCodePoint}}, "escape")},
      {"escape", json_escape_expr()},
      {"number", "\"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?"},
      {"integer", "\"-\"? (\"0\" | [1-9] [0-9]*)"},
      {"boolean", "\"true\" | \"false\""},
      {"null", "\"null\""},
      {"ws", fmt::format("[ \\t\\n]{{0,{}}}", options_.max_whitespace)},
  };
  for (const auto& [n, body] : builtin_bodies) {
    if (builtins_used_.count(n)) out += n + " ::= " + body + "\n";
  }
  if (out.size() > options_.max_bytes) fail("the grammar is larger than {} bytes (max_bytes)", options_.max_bytes);
  return out;
}

}  // namespace detail

std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema, const JsonSchemaOptions& options) {
  detail::Converter c(schema, options);
  try {
    return c.convert();
  } catch (const nlohmann::json::exception& e) {  // a value of the wrong JSON type somewhere
    fail("invalid schema: {}", e.what());
  }
}

std::string json_object_gbnf(const JsonSchemaOptions& options, bool object_only) {
  const nlohmann::ordered_json schema = object_only ? nlohmann::ordered_json{{"type", "object"}} : nlohmann::ordered_json(true);
  return json_schema_to_gbnf(schema, options);
}

}  // namespace qwen3::grammar
