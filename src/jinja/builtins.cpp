// Jinja2's filters, tests and globals (jinja2/filters.py, jinja2/tests.py, jinja2/defaults.py)
// and transformers' additions (tojson as json.dumps, raise_exception, strftime_now).
//
// Where Jinja2 returns a generator (map, select, reject, selectattr, rejectattr, unique, items) or
// an iterator (reverse of a list), so do we (Value::iterator): always true, no len(), consumed by
// iteration. Unlike Python's, ours are computed when the filter runs, so an error in an iterator
// that is never consumed is raised anyway.
#include "jinja/builtins.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <limits>
#include <unordered_map>

#include "jinja/template_limits.h"
#include "jinja/text.h"

namespace qwen3::jinja {
namespace {

using FilterFn = Value (*)(const Value&, CallArgs&);
using TestFn = bool (*)(const Value&, CallArgs&);

bool is_required(const Value& v) { return v.is_undefined() && v.undefined_hint() == "__required__"; }
Value required() { return Value::undefined("__required__"); }

// Jinja's soft_str: str(x), "" for Undefined.
std::string soft_str(const Value& v) { return v.to_str(); }

}  // namespace

Value lookup_path(const Value& item, const Value& attribute) {
  if (attribute.is_int()) return get_item(item, attribute);
  Value v = item;
  for (const std::string& part : text::split(attribute.to_str(), std::string("."), -1)) {
    // Jinja reads an all-digit part as an int; one past int64 indexes nothing, as its string does.
    int64_t index = 0;
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                         std::from_chars(part.data(), part.data() + part.size(), index).ec == std::errc();
    v = get_item(v, numeric ? Value(index) : Value(part));
  }
  return v;
}

namespace {

size_t saturated_mul(size_t a, size_t b) {
  size_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

Value lower_if_string(const Value& v, bool case_sensitive) {
  return (!case_sensitive && v.is_string()) ? Value(text::lower(v.str())) : v;
}

// --- filters ---

Value f_attr(const Value& v, CallArgs& a) {
  auto p = bind_args("attr", a, {{"name", required()}});
  return get_attr_only(v, p[0].to_str());
}

Value f_capitalize(const Value& v, CallArgs& a) {
  bind_args("capitalize", a, {});
  return Value(text::capitalize(soft_str(v)));
}

Value f_center(const Value& v, CallArgs& a) {
  auto p = bind_args("center", a, {{"width", Value(80)}});
  const std::string s = soft_str(v);
  const int64_t width = p[0].to_int(), len = static_cast<int64_t>(text::length(s));
  if (width <= len) return Value(s);
  budget::check_string(s.size() + static_cast<size_t>(width - len));
  const int64_t marg = width - len, left = marg / 2 + (marg & width & 1);
  return Value(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(marg - left), ' '));
}

Value f_default(const Value& v, CallArgs& a) {
  auto p = bind_args("default", a, {{"default_value", Value("")}, {"boolean", Value(false)}});
  if (v.is_undefined() || (p[1].truthy() && !v.truthy())) return p[0];
  return v;
}

Value f_dictsort(const Value& v, CallArgs& a) {
  auto p = bind_args("dictsort", a, {{"case_sensitive", Value(false)}, {"by", Value("key")}, {"reverse", Value(false)}});
  if (!v.is_dict()) eval_fail("dictsort: expected a dict, got {}", v.type_name());
  const std::string by = p[1].to_str();
  if (by != "key" && by != "value") eval_fail("You can only sort by either \"key\" or \"value\"");
  const int pos = by == "key" ? 0 : 1;
  std::vector<Value> items;
  for (const auto& [k, val] : v.dict_obj().items) items.push_back(Value::tuple({k, val}));
  const bool cs = p[0].truthy();
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return lower_if_string(x.items()[pos], cs).less(lower_if_string(y.items()[pos], cs));
  });
  if (p[2].truthy()) std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value f_escape(const Value& v, CallArgs& a) {
  bind_args("escape", a, {});
  const std::string s = soft_str(v);
  size_t size = 0;
  for (char c : s) size += c == '&' || c == '"' || c == '\'' ? 5 : c == '<' || c == '>' ? 4 : 1;
  budget::check_string(size);
  std::string out;
  out.reserve(size);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return Value(std::move(out));
}

Value f_first(const Value& v, CallArgs& a) {
  bind_args("first", a, {});
  if (v.is_iterator()) {  // next(iter(gen)) takes one item
    IteratorObject& it = v.iterator_obj();
    const std::vector<Value>& items = it.get();
    if (it.next == items.size()) return Value::undefined("No first item, sequence was empty.");
    return items[it.next++];
  }
  std::vector<Value> items = v.iterate();
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(const Value& v, CallArgs& a) {
  bind_args("last", a, {});
  if (v.is_iterator()) eval_fail("'{}' object is not reversible", v.type_name());
  std::vector<Value> items = v.iterate();
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_format(const Value& v, CallArgs& a) {
  if (!a.keyword.empty() && !a.positional.empty()) eval_fail("can't handle positional and keyword arguments at the same time");
  if (!a.keyword.empty()) {
    std::vector<std::pair<Value, Value>> kw;
    for (auto& [k, val] : a.keyword) kw.emplace_back(Value(k), val);
    return binary_op(BinaryExpr::Op::Mod, Value(soft_str(v)), Value::dict(std::move(kw)));
  }
  return binary_op(BinaryExpr::Op::Mod, Value(soft_str(v)), Value::tuple(a.positional));
}

Value f_indent(const Value& v, CallArgs& a) {
  auto p = bind_args("indent", a, {{"width", Value(4)}, {"first", Value(false)}, {"blank", Value(false)}});
  if (!p[0].is_string()) budget::check_string(static_cast<size_t>(std::max<int64_t>(0, p[0].to_int())));
  const std::string indention = p[0].is_string() ? p[0].str() : std::string(static_cast<size_t>(std::max<int64_t>(0, p[0].to_int())), ' ');
  // Jinja's do_indent appends "\n" to the value itself: only strings work.
  if (v.is_undefined()) eval_fail("{}", v.undefined_hint());
  if (!v.is_string()) eval_fail("unsupported operand type(s) for +=: '{}' and 'str'", v.type_name());
  const std::string s = v.str() + "\n";  // Jinja's quirk for splitlines
  std::vector<std::string> lines = text::splitlines(s, false);
  budget::check_string(saturated_mul(lines.size(), indention.size() + 1));
  budget::check_string(s.size() + saturated_mul(lines.size(), indention.size() + 1));
  std::string rv;
  if (p[2].truthy()) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + indention : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : indention + lines[i]);
  }
  if (p[1].truthy()) rv = indention + rv;
  return Value(std::move(rv));
}

}  // namespace

Value generator(const Value& v, CallArgs& a, GeneratorBody body) {
  int depth = v.is_iterator() ? v.iterator_obj().depth : 0;
  for (const Value& x : a.positional) depth = std::max(depth, x.is_iterator() ? x.iterator_obj().depth : 0);
  for (const auto& kv : a.keyword) depth = std::max(depth, kv.second.is_iterator() ? kv.second.iterator_obj().depth : 0);
  if (depth + 1 > budget::limits().max_nesting_depth) {
    eval_fail("maximum recursion depth exceeded (generators nested more than {} deep)", budget::limits().max_nesting_depth);
  }
  budget::note_nesting(depth + 1);
  Value it = Value::iterator([v, a, body]() mutable { return body(v, a); });
  it.iterator_obj().depth = depth + 1;
  return it;
}

namespace {

std::vector<Value> items_body(const Value& v, CallArgs& a) {
  bind_args("items", a, {});
  if (v.is_undefined()) return {};
  if (!v.is_dict()) eval_fail("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.dict_obj().items) out.push_back(Value::tuple({k, val}));
  return out;
}
Value f_items(const Value& v, CallArgs& a) { return generator(v, a, items_body); }

Value f_join(const Value& v, CallArgs& a) {
  auto p = bind_args("join", a, {{"d", Value("")}, {"attribute", Value::none()}});
  const std::string sep = soft_str(p[0]);
  std::string out;
  bool first = true;
  for (const Value& item : v.iterate()) {
    if (!first) out += sep;
    first = false;
    out += soft_str(p[1].is_none() ? item : lookup_path(item, p[1]));
    budget::check_string(out.size());
  }
  return Value(std::move(out));
}

Value f_length(const Value& v, CallArgs& a) {
  bind_args("length", a, {});
  return Value(static_cast<int64_t>(v.length()));
}

Value f_list(const Value& v, CallArgs& a) {
  bind_args("list", a, {});
  return Value::list(v.iterate());
}

Value f_lower(const Value& v, CallArgs& a) {
  bind_args("lower", a, {});
  return Value(text::lower(soft_str(v)));
}

Value f_upper(const Value& v, CallArgs& a) {
  bind_args("upper", a, {});
  return Value(text::upper(soft_str(v)));
}

std::vector<Value> map_body(const Value& v, CallArgs& a) {
  std::vector<Value> out;
  if (a.positional.empty()) {
    Value attribute, def = Value::none();
    bool has_default = false;
    for (auto& [k, val] : a.keyword) {
      if (k == "attribute") attribute = val;
      else if (k == "default") def = val, has_default = true;
      else eval_fail("Unexpected keyword argument '{}'", k);
    }
    if (attribute.is_undefined()) eval_fail("map requires a filter argument");
    for (const Value& item : v.iterate()) {
      Value r = lookup_path(item, attribute);
      out.push_back(has_default && r.is_undefined() ? def : r);
    }
    return out;
  }
  const std::string name = a.positional[0].to_str();
  if (!is_filter(name)) eval_fail("No filter named '{}'.", name);
  CallArgs rest{std::vector<Value>(a.positional.begin() + 1, a.positional.end()), a.keyword};
  for (const Value& item : v.iterate()) {
    CallArgs copy = rest;
    out.push_back(apply_filter(name, item, copy));
  }
  return out;
}
Value f_map(const Value& v, CallArgs& a) { return generator(v, a, map_body); }

// select, reject, selectattr, rejectattr.
std::vector<Value> select_body(const Value& v, CallArgs& a, bool by_attribute, bool keep) {
  size_t off = 0;
  Value attribute;
  if (by_attribute) {
    if (a.positional.empty()) eval_fail("Missing parameter for attribute name");
    attribute = a.positional[0];
    off = 1;
  }
  std::optional<std::string> test;
  if (a.positional.size() > off) {
    test = a.positional[off].to_str();
    if (!is_test(*test)) eval_fail("No test named '{}'.", *test);
  }
  CallArgs test_args{std::vector<Value>(a.positional.begin() + std::min(a.positional.size(), off + 1), a.positional.end()), a.keyword};
  std::vector<Value> out;
  for (const Value& item : v.iterate()) {
    const Value x = by_attribute ? lookup_path(item, attribute) : item;
    bool r;
    if (test) {
      CallArgs copy = test_args;
      r = apply_test(*test, x, copy);
    } else {
      r = x.truthy();
    }
    if (r == keep) out.push_back(item);
  }
  return out;
}
Value f_select(const Value& v, CallArgs& a) {
  return generator(v, a, [](const Value& x, CallArgs& y) { return select_body(x, y, false, true); });
}
Value f_reject(const Value& v, CallArgs& a) {
  return generator(v, a, [](const Value& x, CallArgs& y) { return select_body(x, y, false, false); });
}
Value f_selectattr(const Value& v, CallArgs& a) {
  return generator(v, a, [](const Value& x, CallArgs& y) { return select_body(x, y, true, true); });
}
Value f_rejectattr(const Value& v, CallArgs& a) {
  return generator(v, a, [](const Value& x, CallArgs& y) { return select_body(x, y, true, false); });
}

// max, min.
Value extreme(const Value& v, CallArgs& a, bool want_max) {
  auto p = bind_args(want_max ? "max" : "min", a, {{"case_sensitive", Value(false)}, {"attribute", Value::none()}});
  const std::vector<Value> items = v.iterate();
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& x) { return lower_if_string(p[1].is_none() ? x : lookup_path(x, p[1]), p[0].truthy()); };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    const bool better = want_max ? key(items[best]).less(key(items[i])) : key(items[i]).less(key(items[best]));
    if (better) best = i;
  }
  return items[best];
}
Value f_max(const Value& v, CallArgs& a) { return extreme(v, a, true); }
Value f_min(const Value& v, CallArgs& a) { return extreme(v, a, false); }

Value f_replace(const Value& v, CallArgs& a) {
  auto p = bind_args("replace", a, {{"old", required()}, {"new", required()}, {"count", Value::none()}});
  return str_replace(soft_str(v), soft_str(p[0]), soft_str(p[1]), p[2].is_none() ? -1 : p[2].to_int());
}

Value f_reverse(const Value& v, CallArgs& a) {
  bind_args("reverse", a, {});
  if (v.is_string()) return slice(v, Value::none(), Value::none(), Value(-1));
  // reversed() works on sequences (Undefined has len() and [] too); other iterables are listed.
  const bool reversible = v.is_list() || v.is_dict() || v.is_undefined();
  std::vector<Value> items = v.iterate();
  std::reverse(items.begin(), items.end());
  if (!reversible) return Value::list(std::move(items));
  return Value::iterator(std::move(items), v.is_tuple()  ? "reversed"
                                           : v.is_dict() ? "dict_reversekeyiterator"
                                                         : "list_reverseiterator");
}

Value f_safe(const Value& v, CallArgs& a) {
  bind_args("safe", a, {});
  return v;  // transformers renders without autoescape: safe changes nothing
}

Value f_sort(const Value& v, CallArgs& a) {
  auto p = bind_args("sort", a, {{"reverse", Value(false)}, {"case_sensitive", Value(false)}, {"attribute", Value::none()}});
  std::vector<Value> items = v.iterate();
  std::vector<Value> attrs;
  if (!p[2].is_none()) {
    for (const std::string& part : text::split(p[2].to_str(), std::string(","), -1)) attrs.emplace_back(text::strip(part, std::nullopt, true, true));
  }
  auto key = [&](const Value& x) {
    if (attrs.empty()) return lower_if_string(x, p[1].truthy());
    std::vector<Value> k;
    for (const Value& at : attrs) k.push_back(lower_if_string(lookup_path(x, at), p[1].truthy()));
    return k.size() == 1 ? k[0] : Value::list(std::move(k));
  };
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : items) keyed.emplace_back(key(item), std::move(item));
  const bool rev = p[0].truthy();
  // Python's sorted(reverse=True) keeps equal items in their original order.
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return rev ? y.first.less(x.first) : x.first.less(y.first);
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::list(std::move(out));
}

Value f_string(const Value& v, CallArgs& a) {
  bind_args("string", a, {});
  return Value(soft_str(v));
}

Value f_sum(const Value& v, CallArgs& a) {
  auto p = bind_args("sum", a, {{"attribute", Value::none()}, {"start", Value(0)}});
  Value total = p[1];
  for (const Value& item : v.iterate()) total = binary_op(BinaryExpr::Op::Add, total, p[0].is_none() ? item : lookup_path(item, p[0]));
  return total;
}

Value f_title(const Value& v, CallArgs& a) {
  bind_args("title", a, {});
  // Jinja's title: split on runs of [-\s({\[<], upper-case each piece's first character.
  const std::u32string u = text::decode(soft_str(v));
  auto is_break = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || text::is_space(c); };
  std::u32string out;
  size_t i = 0;
  while (i < u.size()) {
    size_t j = i;
    const bool brk = is_break(u[i]);
    while (j < u.size() && is_break(u[j]) == brk) ++j;
    if (brk) {
      out.append(u, i, j - i);
    } else {
      text::append_upper(out, u[i]);  // item[0].upper() + item[1:].lower()
      for (size_t k = i + 1; k < j; ++k) text::append_lower(out, u[k]);
    }
    i = j;
  }
  return Value(text::encode(out));
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value f_tojson(const Value& v, CallArgs& a) {
  auto p = bind_args("tojson", a, {{"ensure_ascii", Value(false)}, {"indent", Value::none()}, {"separators", Value::none()}, {"sort_keys", Value(false)}});
  JsonDumpOptions o;
  o.ensure_ascii = p[0].truthy();
  if (p[1].is_string()) o.indent = p[1].str();
  else if (p[1].is_int()) {
    budget::check_string(static_cast<size_t>(std::max<int64_t>(0, p[1].as_int())));
    o.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, p[1].as_int())), ' ');
  }
  else if (!p[1].is_none()) eval_fail("tojson: indent must be an integer or a string");
  if (o.indent) o.item_separator = ",";
  if (!p[2].is_none()) {
    if (!p[2].is_list() || p[2].items().size() != 2 || !p[2].items()[0].is_string() || !p[2].items()[1].is_string()) {
      eval_fail("tojson: separators must be an (item_separator, key_separator) pair of strings");
    }
    o.item_separator = p[2].items()[0].str();
    o.key_separator = p[2].items()[1].str();
  }
  o.sort_keys = p[3].truthy();
  return Value(json_dumps(v, o));
}

Value f_trim(const Value& v, CallArgs& a) {
  auto p = bind_args("trim", a, {{"chars", Value::none()}});
  std::optional<std::string> chars;
  if (!p[0].is_none()) chars = soft_str(p[0]);
  return Value(text::strip(soft_str(v), chars, true, true));
}

std::vector<Value> unique_body(const Value& v, CallArgs& a) {
  auto p = bind_args("unique", a, {{"case_sensitive", Value(false)}, {"attribute", Value::none()}});
  std::vector<Value> seen, out;
  for (const Value& item : v.iterate()) {
    const Value key = lower_if_string(p[1].is_none() ? item : lookup_path(item, p[1]), p[0].truthy());
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return s.equals(key); })) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return out;
}
Value f_unique(const Value& v, CallArgs& a) { return generator(v, a, unique_body); }

Value f_wordcount(const Value& v, CallArgs& a) {
  bind_args("wordcount", a, {});
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : text::decode(soft_str(v))) {
    const bool w = c == '_' || text::is_alnum(c);
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value(words);
}

const std::unordered_map<std::string_view, FilterFn>& filters() {
  static const std::unordered_map<std::string_view, FilterFn> m = {
      {"abs", filter_abs},           {"attr", f_attr},         {"capitalize", f_capitalize}, {"center", f_center},
      {"count", f_length},      {"d", f_default},         {"default", f_default},       {"dictsort", f_dictsort},
      {"e", f_escape},          {"escape", f_escape},     {"forceescape", f_escape},    {"first", f_first},
      {"float", filter_float},       {"format", f_format},     {"indent", f_indent},         {"int", filter_int},
      {"items", f_items},       {"join", f_join},         {"last", f_last},             {"length", f_length},
      {"list", f_list},         {"lower", f_lower},       {"map", f_map},               {"max", f_max},
      {"min", f_min},           {"reject", f_reject},     {"rejectattr", f_rejectattr}, {"replace", f_replace},
      {"reverse", f_reverse},   {"round", filter_round},       {"safe", f_safe},             {"select", f_select},
      {"selectattr", f_selectattr}, {"sort", f_sort},     {"string", f_string},         {"sum", f_sum},
      {"title", f_title},       {"tojson", f_tojson},     {"trim", f_trim},             {"unique", f_unique},
      {"upper", f_upper},       {"wordcount", f_wordcount},   {"batch", filter_batch},      {"slice", filter_slice},
      {"groupby", filter_groupby}, {"truncate", filter_truncate},
  };
  return m;
}

// --- tests ---

bool t_defined(const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(const Value& v, CallArgs&) { return v.is_none(); }
bool t_boolean(const Value& v, CallArgs&) { return v.is_bool(); }
bool t_true(const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_false(const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_integer(const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(const Value& v, CallArgs&) { return v.is_float(); }
bool t_number(const Value& v, CallArgs&) { return v.is_number(); }
bool t_string(const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(const Value& v, CallArgs&) { return v.is_dict(); }
bool t_iterable(const Value& v, CallArgs&) {
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined() || v.is_iterator();
}
bool t_sequence(const Value& v, CallArgs&) { return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined(); }
bool t_callable(const Value& v, CallArgs&) { return v.is_function(); }
bool t_escaped(const Value&, CallArgs&) { return false; }
bool t_lower(const Value& v, CallArgs&) { return text::is_lower(v.to_str()); }
bool t_upper(const Value& v, CallArgs&) { return text::is_upper(v.to_str()); }
bool t_odd(const Value& v, CallArgs& a) {
  bind_args("odd", a, {});
  return binary_op(BinaryExpr::Op::Mod, v, Value(2)).equals(Value(1));
}
bool t_even(const Value& v, CallArgs& a) {
  bind_args("even", a, {});
  return binary_op(BinaryExpr::Op::Mod, v, Value(2)).equals(Value(0));
}
bool t_divisibleby(const Value& v, CallArgs& a) {
  auto p = bind_args("divisibleby", a, {{"num", required()}});
  return binary_op(BinaryExpr::Op::Mod, v, p[0]).equals(Value(0));
}
template <CompareExpr::Op op>
bool t_compare(const Value& v, CallArgs& a) {
  auto p = bind_args("comparison", a, {{"other", required()}});
  return compare(op, v, p[0]);
}
bool t_in(const Value& v, CallArgs& a) {
  auto p = bind_args("in", a, {{"seq", required()}});
  return contains(p[0], v);
}
bool t_sameas(const Value& v, CallArgs& a) {
  auto p = bind_args("sameas", a, {{"other", required()}});
  const Value& o = p[0];
  if (v.kind() != o.kind()) return false;
  if (v.is_list()) return &v.list_obj() == &o.list_obj();
  if (v.is_dict() || v.is_namespace()) return &v.dict_obj() == &o.dict_obj();
  return v.equals(o);  // None, booleans, small ints and short strings are shared objects in CPython
}
bool t_filter(const Value& v, CallArgs&) { return v.is_string() && is_filter(v.str()); }
bool t_test(const Value& v, CallArgs&) { return v.is_string() && is_test(v.str()); }

const std::unordered_map<std::string_view, TestFn>& tests() {
  using Op = CompareExpr::Op;
  static const std::unordered_map<std::string_view, TestFn> m = {
      {"defined", t_defined},     {"undefined", t_undefined},   {"none", t_none},
      {"boolean", t_boolean},     {"true", t_true},             {"false", t_false},
      {"integer", t_integer},     {"float", t_float},           {"number", t_number},
      {"string", t_string},       {"mapping", t_mapping},       {"iterable", t_iterable},
      {"sequence", t_sequence},   {"callable", t_callable},     {"escaped", t_escaped},
      {"lower", t_lower},         {"upper", t_upper},           {"odd", t_odd},
      {"even", t_even},           {"divisibleby", t_divisibleby}, {"in", t_in},
      {"sameas", t_sameas},       {"filter", t_filter},         {"test", t_test},
      {"eq", t_compare<Op::Eq>},  {"equalto", t_compare<Op::Eq>}, {"==", t_compare<Op::Eq>},
      {"ne", t_compare<Op::Ne>},  {"!=", t_compare<Op::Ne>},
      {"lt", t_compare<Op::Lt>},  {"lessthan", t_compare<Op::Lt>}, {"<", t_compare<Op::Lt>},
      {"le", t_compare<Op::Le>},  {"<=", t_compare<Op::Le>},
      {"gt", t_compare<Op::Gt>},  {"greaterthan", t_compare<Op::Gt>}, {">", t_compare<Op::Gt>},
      {"ge", t_compare<Op::Ge>},  {">=", t_compare<Op::Ge>},
  };
  return m;
}

// --- globals ---

// dict(mapping_or_pairs?, **kwargs), also namespace(...)'s arguments.
std::vector<std::pair<Value, Value>> dict_args(CallArgs& a, const char* fn) {
  std::vector<std::pair<Value, Value>> items;
  DictObject d;
  if (a.positional.size() > 1) eval_fail("{} expected at most 1 argument, got {}", fn, a.positional.size());
  if (a.positional.size() == 1) {
    const Value& src = a.positional[0];
    if (src.is_dict() || src.is_namespace()) {
      for (const auto& kv : src.dict_obj().items) d.set(kv.first, kv.second);
    } else {
      for (const Value& pair : src.iterate()) {
        if (!pair.is_list() || pair.items().size() != 2) eval_fail("{}: sequence elements must be pairs", fn);
        d.set(pair.items()[0], pair.items()[1]);
      }
    }
  }
  for (auto& [k, v] : a.keyword) d.set(Value(k), v);
  return std::move(d.items);
}

Value g_dict(CallArgs& a) { return Value::dict(dict_args(a, "dict")); }
Value g_namespace(CallArgs& a) { return Value::namespace_(dict_args(a, "namespace")); }

Value g_raise_exception(CallArgs& a) {
  auto p = bind_args("raise_exception", a, {{"message", required()}});
  throw RaisedError(p[0].to_str());
}

Value g_strftime_now(CallArgs& a) {
  auto p = bind_args("strftime_now", a, {{"format", required()}});
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[512];
  const size_t n = std::strftime(buf, sizeof buf, p[0].to_str().c_str(), &local);
  return Value(std::string(buf, n));
}

Value g_joiner(CallArgs& a) {
  auto p = bind_args("joiner", a, {{"sep", Value(", ")}});
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [sep = p[0].to_str(), used](CallArgs& b) {
    bind_args("joiner", b, {});
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(sep);
  });
}

}  // namespace

std::vector<Value> bind_args(std::string_view function, CallArgs& args, std::initializer_list<Param> params) {
  std::vector<Value> out;
  out.reserve(params.size());
  for (const Param& p : params) out.push_back(p.default_value);
  std::vector<bool> given(params.size(), false);
  if (args.positional.size() > params.size()) {
    eval_fail("{}() takes at most {} argument(s) ({} given)", function, params.size(), args.positional.size());
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    out[i] = std::move(args.positional[i]);
    given[i] = true;
  }
  for (auto& [name, value] : args.keyword) {
    size_t i = 0;
    for (const Param& p : params) {
      if (name == p.name) break;
      ++i;
    }
    if (i == params.size()) eval_fail("{}() got an unexpected keyword argument '{}'", function, name);
    if (given[i]) eval_fail("{}() got multiple values for argument '{}'", function, name);
    out[i] = std::move(value);
    given[i] = true;
  }
  size_t i = 0;
  for (const Param& p : params) {
    if (!given[i] && is_required(p.default_value)) eval_fail("{}() missing required argument '{}'", function, p.name);
    ++i;
  }
  return out;
}

bool is_filter(std::string_view name) { return filters().count(name) != 0; }
bool is_test(std::string_view name) { return tests().count(name) != 0; }

Value apply_filter(std::string_view name, const Value& input, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) eval_fail("No filter named '{}'.", name);
  return it->second(input, args);
}

bool apply_test(std::string_view name, const Value& input, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) eval_fail("No test named '{}'.", name);
  return it->second(input, args);
}

std::optional<Value> global(std::string_view name) {
  static const std::unordered_map<std::string_view, Value> globals = {
      {"range", Value::function("range", global_range)},
      {"dict", Value::function("dict", g_dict)},
      {"namespace", Value::function("namespace", g_namespace)},
      {"raise_exception", Value::function("raise_exception", g_raise_exception)},
      {"strftime_now", Value::function("strftime_now", g_strftime_now)},
      {"joiner", Value::function("joiner", g_joiner)},
  };
  auto it = globals.find(name);
  if (it == globals.end()) return std::nullopt;
  return it->second;
}

}  // namespace qwen3::jinja
