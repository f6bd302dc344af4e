// Jinja2's batch, slice, groupby and truncate filters (jinja2/filters.py, 3.1): batch and slice
// are generators there and iterators here; groupby returns a list of (grouper, list) tuples.
#include <algorithm>

#include "jinja/builtins.h"
#include "jinja/template_limits.h"
#include "jinja/text.h"

namespace qwen3::jinja {
namespace {

// An int argument where Python needs one (`[x] * n`, range(n)).
int64_t int_arg(const Value& v, const char* filter, const char* param) {
  if (v.is_int() || v.is_bool()) return v.to_int();
  if (v.is_undefined()) eval_fail("{}() missing required argument '{}'", filter, param);
  eval_fail("'{}' object cannot be interpreted as an integer", v.type_name());
}

std::vector<Value> batch_body(const Value& v, CallArgs& a) {
  auto p = bind_args("batch", a, {{"linecount", Value()}, {"fill_with", Value::none()}});
  const int64_t linecount = int_arg(p[0], "batch", "linecount");
  std::vector<Value> out, tmp;
  for (Value& item : v.iterate()) {
    if (static_cast<int64_t>(tmp.size()) == linecount) {
      out.push_back(Value::list(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(std::move(item));
  }
  if (!tmp.empty()) {
    if (!p[1].is_none() && static_cast<int64_t>(tmp.size()) < linecount) {
      budget::check_list(static_cast<size_t>(linecount));
      tmp.resize(static_cast<size_t>(linecount), p[1]);
    }
    out.push_back(Value::list(std::move(tmp)));
  }
  return out;
}

std::vector<Value> slice_body(const Value& v, CallArgs& a) {
  auto p = bind_args("slice", a, {{"slices", Value()}, {"fill_with", Value::none()}});
  const int64_t slices = int_arg(p[0], "slice", "slices");
  const std::vector<Value> seq = v.iterate();
  if (slices == 0) eval_fail("integer division or modulo by zero");
  if (slices < 0) return {};
  budget::check_list(static_cast<size_t>(slices));
  const int64_t length = static_cast<int64_t>(seq.size());
  const int64_t per_slice = length / slices, with_extra = length % slices;  // both >= 0
  std::vector<Value> out;
  int64_t offset = 0;
  for (int64_t n = 0; n < slices; ++n) {
    budget::loop_iteration();
    const int64_t start = offset + n * per_slice;
    if (n < with_extra) ++offset;
    const int64_t end = offset + (n + 1) * per_slice;
    std::vector<Value> tmp(seq.begin() + start, seq.begin() + end);
    if (!p[1].is_none() && n >= with_extra) tmp.push_back(p[1]);
    out.push_back(Value::list(std::move(tmp)));
  }
  return out;
}

// make_attrgetter(attribute, default=...): the default replaces an undefined part.
Value group_key(const Value& item, const Value& attribute, const Value& default_value) {
  if (attribute.is_int()) {
    Value v = get_item(item, attribute);
    return (v.is_undefined() && !default_value.is_none()) ? default_value : v;
  }
  Value v = item;
  for (const std::string& part : text::split(attribute.to_str(), std::string("."), -1)) {
    const bool numeric = !part.empty() && part.size() < 19 &&
                         std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = get_item(v, numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (v.is_undefined() && !default_value.is_none()) v = default_value;
  }
  return v;
}

}  // namespace

Value filter_batch(const Value& v, CallArgs& a) { return generator(v, a, batch_body); }
Value filter_slice(const Value& v, CallArgs& a) { return generator(v, a, slice_body); }

Value filter_groupby(const Value& v, CallArgs& a) {
  auto p = bind_args("groupby", a, {{"attribute", Value()}, {"default", Value::none()}, {"case_sensitive", Value(false)}});
  if (p[0].is_undefined()) eval_fail("groupby() missing required argument 'attribute'");
  const bool case_sensitive = p[2].truthy();
  std::vector<std::pair<Value, Value>> keyed;  // (sort key, item)
  for (Value& item : v.iterate()) {
    Value key = group_key(item, p[0], p[1]);
    if (!case_sensitive && key.is_string()) key = Value(text::lower(key.str()));
    keyed.emplace_back(std::move(key), std::move(item));
  }
  // sorted(value, key=expr) is stable; itertools.groupby then joins runs of equal keys.
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& x, const auto& y) { return x.first.less(y.first); });
  std::vector<Value> groups;
  for (size_t i = 0; i < keyed.size();) {
    size_t j = i + 1;
    while (j < keyed.size() && keyed[j].first.equals(keyed[i].first)) ++j;
    std::vector<Value> members;
    for (size_t k = i; k < j; ++k) members.push_back(keyed[k].second);
    // Case-insensitive grouping shows the first member's own key, not the lowered one.
    Value grouper = case_sensitive ? keyed[i].first : group_key(keyed[i].second, p[0], p[1]);
    Value group = Value::tuple({std::move(grouper), Value::list(std::move(members))});
    group.list_obj_mut().group = true;
    groups.push_back(std::move(group));
    i = j;
  }
  return Value::list(std::move(groups));
}

Value filter_truncate(const Value& v, CallArgs& a) {
  auto p = bind_args("truncate", a,
                     {{"length", Value(255)}, {"killwords", Value(false)}, {"end", Value("...")}, {"leeway", Value::none()}});
  if (!v.is_string() && !v.is_undefined()) eval_fail("object of type '{}' has no len()", v.type_name());
  const int64_t length = int_arg(p[0], "truncate", "length");
  const int64_t leeway = p[3].is_none() ? 5 : int_arg(p[3], "truncate", "leeway");  // policies["truncate.leeway"]
  if (!p[2].is_string()) eval_fail("object of type '{}' has no len()", p[2].type_name());
  const std::string& end = p[2].str();
  const int64_t end_len = static_cast<int64_t>(text::length(end));
  if (length < end_len) eval_fail("expected length >= {}, got {}", end_len, length);
  if (leeway < 0) eval_fail("expected leeway >= 0, got {}", leeway);
  const std::string s = v.to_str();
  budget::scanned(s.size());
  const std::u32string u = text::decode(s);
  const int64_t size = static_cast<int64_t>(u.size());
  int64_t limit = 0;  // length + leeway; leeway >= 0, so only a positive overflow (no truncation)
  if (__builtin_add_overflow(length, leeway, &limit) || size <= limit) return Value(s);
  std::u32string head = u.substr(0, static_cast<size_t>(length - end_len));  // length >= len(end) >= 0
  if (!p[1].truthy()) {
    const size_t space = head.rfind(U' ');
    if (space != std::u32string::npos) head.resize(space);
  }
  return Value(text::encode(head) + end);
}

}  // namespace qwen3::jinja
