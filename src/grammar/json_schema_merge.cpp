// allOf: the parts are merged into one schema where the result is expressible (types intersected,
// properties merged property by property, bounds tightened, enums intersected), else an error.
// Also $ref resolution (JSON pointers within the document).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "grammar/json_schema_internal.h"

namespace qwen3::grammar::detail {

namespace {

// Both schemas at once: true is the identity, false absorbs, anything else nests an allOf.
Json combine(const Json& x, const Json& y) {
  if (x == true || x == y) return y;
  if (y == true) return x;
  if (x == false || y == false) return false;
  return Json{{"allOf", Json::array({x, y})}};
}

std::set<std::string> type_set(const Json& t) {
  std::set<std::string> out;
  for (const Json& e : t.is_array() ? t : Json::array({t})) {
    if (e.is_string()) out.insert(e.get<std::string>());
  }
  return out;
}

Json intersect_types(const Json& a, const Json& b, const std::string& path) {
  const std::set<std::string> ta = type_set(a), tb = type_set(b);
  Json out = Json::array();
  for (const std::string& t : ta) {
    if (tb.count(t) || (t == "integer" && tb.count("number"))) out.push_back(t);
    else if (t == "number" && tb.count("integer")) out.push_back("integer");
  }
  if (out.empty()) fail("{}: allOf: the types {} and {} have nothing in common", path, a.dump(), b.dump());
  return out.size() == 1 ? out[0] : out;
}

void merge_properties(Json& acc, const Json& b) {
  const Json none = Json::object();
  const Json& pa = acc.contains("properties") ? acc["properties"] : none;
  const Json& pb = b.contains("properties") ? b["properties"] : none;
  const Json apa = acc.contains("additionalProperties") ? acc["additionalProperties"] : Json(true);
  const Json apb = b.contains("additionalProperties") ? b["additionalProperties"] : Json(true);
  Json props = Json::object();
  for (const auto& [k, v] : pa.items()) props[k] = combine(v, pb.contains(k) ? pb[k] : apb);
  for (const auto& [k, v] : pb.items()) {
    if (!pa.contains(k)) props[k] = combine(apa, v);
  }
  if (!props.empty()) acc["properties"] = props;
  const Json ap = combine(apa, apb);
  if (ap == true) {
    acc.erase("additionalProperties");
  } else {
    acc["additionalProperties"] = ap;
  }
}

// One keyword of b into acc.
void merge_keyword(Json& acc, const std::string& k, const Json& v, const std::string& path) {
  const std::string kpath = pointer_append(path, k);
  if (!acc.contains(k)) {
    acc[k] = v;
    return;
  }
  Json& cur = acc[k];
  if (k == "type") {
    cur = intersect_types(cur, v, kpath);
  } else if (k == "required") {
    for (const Json& r : v) {
      if (std::find(cur.begin(), cur.end(), r) == cur.end()) cur.push_back(r);
    }
  } else if (k == "items" && !cur.is_array() && !v.is_array()) {
    cur = combine(cur, v);
  } else if (k == "additionalItems") {
    cur = combine(cur, v);
  } else if ((k.rfind("min", 0) == 0 || k == "exclusiveMinimum") && cur.is_number() && v.is_number()) {
    if (v.get<double>() > cur.get<double>()) cur = v;
  } else if ((k.rfind("max", 0) == 0 || k == "exclusiveMaximum") && cur.is_number() && v.is_number()) {
    if (v.get<double>() < cur.get<double>()) cur = v;
  } else if (k == "enum" && cur.is_array() && v.is_array()) {
    Json both = Json::array();
    for (const Json& e : cur) {
      if (std::find(v.begin(), v.end(), e) != v.end()) both.push_back(e);
    }
    if (both.empty()) fail("{}: allOf: the enums have no value in common", kpath);
    cur = both;
  } else if (k == "uniqueItems") {
    cur = cur == true || v == true;
  } else if (cur != v) {
    fail("{}: allOf with two different '{}' is not expressible", kpath, k);
  }
}

}  // namespace

Json Converter::merge(const std::vector<Json>& parts, const std::string& path, uint32_t depth) {
  if (depth > options_.max_depth) fail("{}: allOf / $ref nested deeper than {} levels", path.empty() ? "/" : path, options_.max_depth);
  Json acc = Json::object();
  std::vector<Json> groups;  // anyOf / oneOf lists, distributed at the end
  for (const Json& part : parts) {
    if (part == true) continue;
    if (!part.is_object()) fail("{}: allOf: a part is false or not a schema, and nothing matches", path.empty() ? "/" : path);
    check_keywords(part, path);
    Json rest = part;
    std::vector<Json> nested;
    if (part.contains("$ref")) {
      nested.push_back(resolve_ref(part["$ref"], pointer_append(path, "$ref")));
      rest.erase("$ref");
    }
    if (part.contains("allOf")) {
      if (!part["allOf"].is_array()) fail("{}: must be an array", pointer_append(path, "allOf"));
      for (const Json& sub : part["allOf"]) nested.push_back(sub);
      rest.erase("allOf");
    }
    if (!nested.empty()) {
      nested.push_back(rest);
      rest = merge(nested, path, depth + 1);
    }
    for (const char* k : {"anyOf", "oneOf"}) {
      if (!rest.contains(k)) continue;
      if (!rest[k].is_array() || rest[k].empty()) fail("{}: must be a non-empty array", pointer_append(path, k));
      groups.push_back(rest[k]);
      rest.erase(k);
    }
    // Item schemas meet position by position only when neither side is a tuple: allOf of a tuple
    // and an items schema would have to apply the items schema to the tuple's members too.
    auto has_items = [](const Json& x) { return x.contains("items") || x.contains("prefixItems") || x.contains("additionalItems"); };
    auto is_tuple = [](const Json& x) { return x.contains("prefixItems") || (x.contains("items") && x["items"].is_array()); };
    if (has_items(acc) && has_items(rest) && (is_tuple(acc) || is_tuple(rest))) {
      fail("{}: allOf over tuple arrays (prefixItems, array-form items) is not supported", path.empty() ? "/" : path);
    }
    if (rest.contains("properties") || rest.contains("additionalProperties")) merge_properties(acc, rest);
    for (const auto& [k, v] : rest.items()) {
      if (is_annotation(k) || k == "properties" || k == "additionalProperties") continue;
      merge_keyword(acc, k, v, path);
    }
  }
  if (groups.size() == 1) acc["anyOf"] = groups[0];
  if (groups.size() > 1) {  // (a1 | a2) & (b1 | b2) = a1&b1 | a1&b2 | a2&b1 | a2&b2
    Json product = Json::array({Json(true)});
    for (const Json& g : groups) {
      Json next = Json::array();
      for (const Json& x : product) {
        for (const Json& y : g) next.push_back(combine(x, y));
      }
      if (next.size() > options_.max_alternatives) fail("{}: distributing anyOf over allOf needs more than {} branches", path.empty() ? "/" : path, options_.max_alternatives);
      product = std::move(next);
    }
    acc["anyOf"] = product;
  }
  return acc;
}

const Json& Converter::resolve_ref(const Json& ref, const std::string& path) const {
  if (!ref.is_string()) fail("{}: must be a string", path);
  const std::string r = ref.get<std::string>();
  if (r.empty() || r[0] != '#') fail("{}: $ref \"{}\" is not a JSON pointer into this document (remote refs are unsupported)", path, r);
  std::string frag;  // percent-decoded
  for (size_t i = 1; i < r.size(); ++i) {
    if (r[i] == '%' && i + 2 < r.size() + 0 && std::isxdigit(static_cast<unsigned char>(r[i + 1])) && std::isxdigit(static_cast<unsigned char>(r[i + 2]))) {
      frag += static_cast<char>(std::stoi(r.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      frag += r[i];
    }
  }
  if (!frag.empty() && frag[0] != '/') fail("{}: $ref \"{}\": anchors ($anchor, $id) are unsupported; use a JSON pointer", path, r);
  const Json* cur = &doc_;
  size_t pos = 1;
  while (pos <= frag.size() && !frag.empty()) {
    const size_t end = std::min(frag.find('/', pos), frag.size());
    std::string token;
    for (size_t i = pos; i < end; ++i) {
      if (frag[i] == '~' && i + 1 < end && (frag[i + 1] == '0' || frag[i + 1] == '1')) {
        token += frag[++i] == '0' ? '~' : '/';
      } else {
        token += frag[i];
      }
    }
    if (cur->is_object() && cur->contains(token)) {
      cur = &(*cur)[token];
    } else if (cur->is_array() && !token.empty() && token.size() < 10 && token.find_first_not_of("0123456789") == std::string::npos &&
               std::stoul(token) < cur->size()) {
      cur = &(*cur)[std::stoul(token)];
    } else {
      fail("{}: $ref \"{}\" points to nothing in this document", path, r);
    }
    pos = end + 1;
  }
  return *cur;
}

}  // namespace qwen3::grammar::detail
