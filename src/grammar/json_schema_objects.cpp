// Objects (properties in schema order, required, additionalProperties) and arrays (items,
// prefixItems / array-form items + additionalItems, minItems, maxItems).
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/error.h"
#include "grammar/gbnf_text.h"
#include "grammar/json_schema_internal.h"

namespace qwen3::grammar::detail {

namespace {

struct KeyTrie {
  std::map<uint32_t, KeyTrie> next;
  bool terminal = false;
};

std::string key_literal(const std::string& name) { return gbnf_literal(fmt::format("\"{}\"", json_string_content(name))); }

std::vector<std::string> read_required(const Json& s, const std::string& path) {
  std::vector<std::string> out;
  if (!s.contains("required")) return out;
  const Json& r = s["required"];
  if (!r.is_array()) fail("{}: must be an array of strings", pointer_append(path, "required"));
  for (const Json& e : r) {
    if (!e.is_string()) fail("{}: must be an array of strings", pointer_append(path, "required"));
    if (std::find(out.begin(), out.end(), e.get<std::string>()) == out.end()) out.push_back(e.get<std::string>());
  }
  return out;
}

// The content of a string whose value is none of the names in the trie (canonical JSON text, so
// that each value has one spelling and a listed name cannot come back escaped).
std::string not_in_trie(const KeyTrie& t) {
  if (t.next.empty()) return t.terminal ? "char+" : "char*";
  std::vector<std::string> alts;
  if (!t.terminal) alts.push_back("\"\"");
  CodeSet children;
  for (const auto& [cp, sub] : t.next) children.push_back({cp, cp});
  const std::string other = json_char_expr(complement(children), "escape");
  if (!other.empty()) alts.push_back(other + " char*");
  for (const auto& [cp, sub] : t.next) {
    std::string ch;
    append_utf8(ch, cp);
    alts.push_back(gbnf_literal(json_string_content(ch)) + " " + not_in_trie(sub));
  }
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out + ")";
}

}  // namespace

std::string Converter::object_branch(const Json& s, const std::string& path, const std::string& hint) {
  LeftScope guard(*this);
  const Json no_props = Json::object();
  const Json& props = s.contains("properties") ? s["properties"] : no_props;
  if (!props.is_object()) fail("{}: must be an object", pointer_append(path, "properties"));
  const std::vector<std::string> required = read_required(s, path);
  const Json ap = s.contains("additionalProperties") ? s["additionalProperties"] : Json(true);
  const std::string ap_path = pointer_append(path, "additionalProperties");
  if (props.empty() && required.empty() && ap == true) return builtin("object");

  std::string ap_expr;  // the value of an additional property, made once
  auto additional_value = [&]() -> const std::string& {
    if (ap_expr.empty()) ap_expr = ap == true ? builtin("value") : visit(ap, ap_path, hint + "-value");
    return ap_expr;
  };
  std::vector<MemberExpr> members;
  KeyTrie known;
  auto add_known = [&known](const std::string& name) {
    KeyTrie* t = &known;
    for (uint32_t cp : decode_utf8(name)) t = &t->next[cp];
    t->terminal = true;
  };
  const std::string colon = punct(":");
  for (const auto& [name, sub] : props.items()) {
    add_known(name);
    const bool req = std::find(required.begin(), required.end(), name) != required.end();
    if (sub == false) {
      if (req) fail("{}: required property '{}' has the schema false", pointer_append(path, "required"), name);
      continue;
    }
    const std::string value = visit(sub, pointer_append(pointer_append(path, "properties"), name), name);
    members.push_back({key_literal(name) + " " + colon + " " + value, req});
  }
  for (const std::string& name : required) {
    if (props.contains(name)) continue;
    if (ap == false) fail("{}: required property '{}' is not allowed by additionalProperties false", pointer_append(path, "required"), name);
    add_known(name);
    members.push_back({key_literal(name) + " " + colon + " " + additional_value(), true});
  }
  std::string extra;  // one additional property
  if (ap != false) {
    builtin("char");
    // One additional member, as a rule: object_members writes it in two places.
    extra = add_rule(hint + "-additional", fmt::format("\"\\\"\" {} \"\\\"\" {} {}", not_in_trie(known), colon, additional_value()));
  }
  return add_rule(hint, punct("{") + " " + object_members(members, extra, hint) + " " + punct("}"));
}

// Members in order, each optional one may be left out, then any number of `extra`; commas between.
std::string Converter::object_members(const std::vector<MemberExpr>& members, const std::string& extra, const std::string& hint) {
  const std::string comma = punct(",");
  const size_t n = members.size();
  const size_t optional = std::count_if(members.begin(), members.end(), [](const MemberExpr& m) { return !m.required; });
  // after(i): the rest once something has been written, from member i on.
  std::vector<std::string> after(n + 1);
  after[n] = extra.empty() ? "" : "(" + comma + " " + extra + ")*";
  for (size_t i = n; i-- > 0;) {
    const std::string piece = members[i].required ? comma + " " + members[i].expr : "(" + comma + " " + members[i].expr + ")?";
    after[i] = after[i + 1].empty() ? piece : piece + " " + after[i + 1];
    // With many optional members the suffixes are shared through rules, so the size stays linear.
    if (optional > 4 && i > 0) after[i] = add_rule(hint + "-rest", after[i]);
  }
  std::vector<std::string> alts;
  size_t i = 0;
  for (; i < n; ++i) {
    alts.push_back(members[i].expr + (after[i + 1].empty() ? "" : " " + after[i + 1]));
    if (members[i].required) break;
  }
  if (i == n) alts.push_back(extra.empty() ? "\"\"" : "(" + extra + " " + after[n] + ")?");
  return alternatives(alts);
}

std::string Converter::array_branch(const Json& s, const std::string& path, const std::string& hint) {
  LeftScope guard(*this);
  const bool tuple_items = s.contains("items") && s["items"].is_array();
  if (s.contains("prefixItems") && tuple_items) fail("{}: array-form 'items' beside 'prefixItems'", pointer_append(path, "items"));
  const std::string prefix_key = s.contains("prefixItems") ? "prefixItems" : tuple_items ? "items" : "";
  const std::string rest_key = prefix_key == "items" ? "additionalItems" : "items";
  std::vector<std::string> prefix;
  if (!prefix_key.empty()) {
    const Json& p = s[prefix_key];
    if (!p.is_array()) fail("{}: must be an array", pointer_append(path, prefix_key));
    for (size_t i = 0; i < p.size(); ++i) {
      const std::string ipath = pointer_append(pointer_append(path, prefix_key), std::to_string(i));
      prefix.push_back(p[i] == false ? "" : visit(p[i], ipath, hint + "-item"));
    }
  }
  const Json rest = s.contains(rest_key) ? s[rest_key] : Json(true);
  uint64_t min = s.contains("minItems") ? read_count(s, "minItems", path) : 0;
  std::optional<uint64_t> max;
  if (s.contains("maxItems")) max = read_count(s, "maxItems", path);
  // A `false` item ends the array there; so does a rest schema of false after the prefix.
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (prefix[i].empty() && (!max || *max > i)) max = i;
  }
  if (rest == false && (!max || *max > prefix.size())) max = prefix.size();
  if (max && min > *max) fail("{}: no array length satisfies minItems, maxItems and the items", path.empty() ? "/" : path);
  check_repeat(max ? *max : min, pointer_append(path, max ? "maxItems" : "minItems"));
  if (min == 0 && !max && prefix.empty() && rest == true) return builtin("array");
  const std::string rest_expr = rest == false || (max && *max <= prefix.size()) ? "" : visit(rest, pointer_append(path, rest_key), hint + "-item");
  const std::string comma = punct(",");
  // tail(i): what may follow once i > 0 items are written.
  std::string tail;
  const uint64_t p = prefix.size();
  if (!max || *max > p) {
    const uint64_t need = min > p ? min - p : 0;
    const uint64_t from = std::max<uint64_t>(p, 1);
    const uint64_t rmin = min > from ? min - from : 0;
    std::optional<uint64_t> rmax = max ? std::optional<uint64_t>(*max - from) : std::nullopt;
    tail = p == 0 ? repeat("(" + comma + " " + rest_expr + ")", rmin, rmax) : repeat("(" + comma + " " + rest_expr + ")", need, rmax);
  }
  const uint64_t limit = max ? std::min<uint64_t>(*max, p) : p;
  for (uint64_t i = limit; i-- > 1;) {  // items 2..limit of the prefix, innermost first
    std::string next = comma + " " + prefix[i] + (tail.empty() || tail == "\"\"" ? "" : " " + tail);
    tail = i >= min ? "(" + next + ")?" : next;
  }
  std::string first;
  if (!max || *max > 0) {
    const std::string head = p > 0 ? prefix[0] : rest_expr;
    first = head + (tail.empty() || tail == "\"\"" ? "" : " " + tail);
    if (min == 0) first = "(" + first + ")?";
  }
  return add_rule(hint, punct("[") + (first.empty() ? "" : " " + first) + " " + punct("]"));
}

}  // namespace qwen3::grammar::detail
