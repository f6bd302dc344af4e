#include "jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "jinja/template_limits.h"
#include "jinja/text.h"

namespace qwen3::jinja {

ListObject::~ListObject() { release_values(items); }

IteratorObject::~IteratorObject() { release_values(items); }

std::vector<Value>& IteratorObject::get() {
  if (produce) {
    auto p = std::move(produce);
    produce = nullptr;
    items = p();
  }
  return items;
}
namespace {

// The worklist of the release_values call running on this thread, if any.
thread_local std::vector<Value>* g_release_queue = nullptr;

// Python's repr of a str: single quotes unless the text has ' and no ", backslash escapes for
// the quote, \\, \t, \n, \r and characters that are not printable.
void append_string_repr(std::string& out, const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out.push_back(quote);
  budget::check_string(out.size() + s.size() + 1);
  if (std::all_of(s.begin(), s.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; })) {  // printable ASCII
    for (char ch : s) {
      if (ch == quote || ch == '\\') out.push_back('\\');
      out.push_back(ch);
    }
    out.push_back(quote);
    return;
  }
  for (char32_t c : text::decode(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (text::is_printable(c)) {
      text::append_utf8(out, c);
    } else if (c < 0x100) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(c));
    } else if (c < 0x10000) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<uint32_t>(c));
    }
  }
  out.push_back(quote);
}

// The containers being printed, outermost first: one met again is a cycle, printed as Python's
// reprlib does ([...], {...}); more of them than the nesting limit is Python's RecursionError.
struct ReprState {
  std::vector<const void*> active;
};

void append_repr(std::string& out, const Value& v, ReprState& st);

// Returns false when `v` is already being printed; else enters it (leave with st.active.pop_back()).
bool enter_container(const Value& v, std::vector<const void*>& active, const char* while_doing) {
  const void* id = v.container_id();
  if (std::find(active.begin(), active.end(), id) != active.end()) return false;
  const int depth = static_cast<int>(active.size()) + 1;
  if (depth > budget::limits().max_nesting_depth) {
    eval_fail("maximum recursion depth exceeded while {} (values nested more than {} deep)", while_doing,
              budget::limits().max_nesting_depth);
  }
  budget::note_nesting(depth);
  active.push_back(id);
  return true;
}

void append_dict_items_repr(std::string& out, const Value& dict, ReprState& st) {
  if (!enter_container(dict, st.active, "getting the repr of an object")) {
    out += "{...}";
    return;
  }
  out.push_back('{');
  bool first = true;
  for (const auto& [k, val] : dict.dict_obj().items) {
    if (!first) out += ", ";
    first = false;
    append_repr(out, k, st);
    out += ": ";
    append_repr(out, val, st);
    budget::check_string(out.size());
  }
  out.push_back('}');
  st.active.pop_back();
}

void append_repr(std::string& out, const Value& v, ReprState& st) {
  switch (v.kind()) {
    case Value::Kind::String:
      append_string_repr(out, v.str());
      return;
    case Value::Kind::List: {
      const bool tuple = v.is_tuple();
      if (!enter_container(v, st.active, "getting the repr of an object")) {
        out += tuple ? "(...)" : "[...]";
        return;
      }
      const char* view = v.list_obj().view;
      if (view != nullptr) out += std::string(view) + "([";
      else out.push_back(tuple ? '(' : '[');
      const auto& items = v.items();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        append_repr(out, items[i], st);
        budget::check_string(out.size());
      }
      if (tuple && items.size() == 1) out.push_back(',');
      out += view != nullptr ? "])" : tuple ? ")" : "]";
      st.active.pop_back();
      return;
    }
    case Value::Kind::Dict:
      append_dict_items_repr(out, v, st);
      return;
    case Value::Kind::Namespace:  // Jinja2's Namespace.__repr__: f"<Namespace {attrs!r}>"
      out += "<Namespace ";
      append_dict_items_repr(out, v, st);
      out.push_back('>');
      return;
    case Value::Kind::Undefined:
      out += "Undefined";
      return;
    default:
      out += v.to_str();
  }
}

// Python's json string encoder.
void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  auto escape_u = [&](uint32_t c) { out += fmt::format("\\u{:04x}", c); };
  // Returns false for characters written as they are.
  auto escape_ascii = [&](char32_t c) {
    switch (c) {
      case '"': out += "\\\""; return true;
      case '\\': out += "\\\\"; return true;
      case '\n': out += "\\n"; return true;
      case '\r': out += "\\r"; return true;
      case '\t': out += "\\t"; return true;
      case '\b': out += "\\b"; return true;
      case '\f': out += "\\f"; return true;
      default:
        if (c >= 0x20) return false;
        escape_u(c);
        return true;
    }
  };
  out.push_back('"');
  if (!ensure_ascii || text::is_ascii(s)) {
    for (char ch : s) {
      if (!escape_ascii(static_cast<unsigned char>(ch))) out.push_back(ch);
    }
  } else {
    for (char32_t c : text::decode(s)) {
      if (c < 0x80) {
        if (!escape_ascii(c)) out.push_back(static_cast<char>(c));
      } else if (c >= 0x10000) {  // a surrogate pair, as Python writes it
        escape_u(0xD800 + ((c - 0x10000) >> 10));
        escape_u(0xDC00 + ((c - 0x10000) & 0x3FF));
      } else {
        escape_u(c);
      }
    }
  }
  out.push_back('"');
}

// The containers being encoded: one met again is json.dumps' "Circular reference detected".
struct JsonState {
  const JsonDumpOptions& o;
  std::vector<const void*> active;
};

void append_json(std::string& out, const Value& v, JsonState& st);

void append_json_newline(std::string& out, const JsonDumpOptions& o, size_t depth) {
  budget::check_string(out.size() + 1 + depth * o.indent->size());
  out.push_back('\n');
  for (size_t i = 0; i < depth; ++i) out += *o.indent;
}

void enter_json_container(const Value& v, JsonState& st) {
  if (!enter_container(v, st.active, "encoding a JSON object")) eval_fail("Circular reference detected");
}

std::string json_key(const Value& k) {
  switch (k.kind()) {
    case Value::Kind::String: return k.str();
    case Value::Kind::Bool: return k.as_bool() ? "true" : "false";
    case Value::Kind::None: return "null";
    case Value::Kind::Int: return std::to_string(k.as_int());
    case Value::Kind::Float: return python_float_repr(k.as_float());
    default: eval_fail("keys must be str, int, float, bool or None, not {}", k.type_name());
  }
}

void append_json(std::string& out, const Value& v, JsonState& st) {
  const JsonDumpOptions& o = st.o;
  switch (v.kind()) {
    case Value::Kind::None: out += "null"; return;
    case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::Int: out += std::to_string(v.as_int()); return;
    case Value::Kind::Float: {
      const double x = v.as_float();
      if (std::isnan(x)) out += "NaN";
      else if (std::isinf(x)) out += x > 0 ? "Infinity" : "-Infinity";
      else out += python_float_repr(x);
      return;
    }
    case Value::Kind::String: append_json_string(out, v.str(), o.ensure_ascii); return;
    case Value::Kind::List: {
      const auto& items = v.items();
      if (items.empty()) {
        out += "[]";
        return;
      }
      enter_json_container(v, st);
      const size_t depth = st.active.size();
      out.push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.indent) append_json_newline(out, o, depth);
        append_json(out, items[i], st);
        budget::check_string(out.size());
      }
      if (o.indent) append_json_newline(out, o, depth - 1);
      out.push_back(']');
      st.active.pop_back();
      return;
    }
    case Value::Kind::Dict: {
      const DictObject& d = v.dict_obj();
      if (d.items.empty()) {
        out += "{}";
        return;
      }
      enter_json_container(v, st);
      const size_t depth = st.active.size();
      std::vector<std::pair<std::string, const Value*>> entries;
      for (const auto& [k, val] : d.items) entries.emplace_back(json_key(k), &val);
      if (o.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out.push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.indent) append_json_newline(out, o, depth);
        append_json_string(out, entries[i].first, o.ensure_ascii);
        out += o.key_separator;
        append_json(out, *entries[i].second, st);
        budget::check_string(out.size());
      }
      if (o.indent) append_json_newline(out, o, depth - 1);
      out.push_back('}');
      st.active.pop_back();
      return;
    }
    default: eval_fail("Object of type {} is not JSON serializable", v.type_name());
  }
}

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  using T = nlohmann::ordered_json::value_t;
  if ((j.is_array() || j.is_object()) && depth >= budget::limits().max_nesting_depth) {
    eval_fail("the template variables are nested more than {} levels deep", budget::limits().max_nesting_depth);
  }
  switch (j.type()) {
    case T::null: return Value::none();
    case T::boolean: return Value(j.get<bool>());
    case T::number_integer: return Value(j.get<int64_t>());
    case T::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<int64_t>(u));
      return Value(static_cast<double>(u));  // beyond int64: Python would keep an exact int
    }
    case T::number_float: return Value(j.get<double>());
    case T::string: return Value(j.get_ref<const std::string&>());
    case T::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json_at(e, depth + 1));
      return Value::list(std::move(items));
    }
    case T::object: {
      std::vector<std::pair<Value, Value>> items;
      items.reserve(j.size());
      for (const auto& [k, e] : j.items()) items.emplace_back(Value(k), from_json_at(e, depth + 1));
      return Value::dict(std::move(items));
    }
    default: return Value::undefined("binary JSON values are not supported");
  }
}

// Nesting past the limit in == or <: Python's RecursionError (a cycle, or a very deep value).
void check_compare_depth(int depth) {
  if (depth >= budget::limits().max_nesting_depth) {
    eval_fail("maximum recursion depth exceeded in comparison (values nested more than {} deep)",
              budget::limits().max_nesting_depth);
  }
  budget::note_nesting(depth + 1);
}

bool numeric_equal(const Value& a, const Value& b) {
  if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
  return a.to_int() == b.to_int();
}

}  // namespace

void release_values(std::vector<Value>& values) {
  if (values.empty()) return;
  if (g_release_queue != nullptr) {  // inside the loop below: hand them over
    for (Value& v : values) g_release_queue->push_back(std::move(v));
    values.clear();
    return;
  }
  std::vector<Value> queue = std::move(values);
  values.clear();
  g_release_queue = &queue;
  while (!queue.empty()) {
    Value last = std::move(queue.back());
    queue.pop_back();
    // `last` is destroyed here; a container it held last hands its items to `queue`.
  }
  g_release_queue = nullptr;
}

DictObject::~DictObject() {
  if (items.empty()) return;
  std::vector<Value> values;
  values.reserve(items.size() * 2);
  for (auto& [k, v] : items) {
    values.push_back(std::move(k));
    values.push_back(std::move(v));
  }
  items.clear();
  release_values(values);
}

LoopObject::~LoopObject() {
  // exec_for creates `items` non-const; the loop objects of one loop share it.
  if (items && items.use_count() == 1) release_values(const_cast<std::vector<Value>&>(*items));
  if (last_changed && last_changed.use_count() == 1) {
    std::vector<Value> last;
    last.push_back(std::move(*last_changed));
    release_values(last);
  }
}

const Value* DictObject::find(const Value& key) const {
  for (const auto& [k, v] : items) {
    if (k.equals(key)) return &v;
  }
  return nullptr;
}

const Value* DictObject::find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k.is_string() && k.str() == key) return &v;
  }
  return nullptr;
}

void DictObject::set(Value key, Value value) {
  for (auto& [k, v] : items) {
    if (k.equals(key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

Value::StrPtr Value::new_string(std::string s) {
  budget::check_string(s.size());
  budget::built(s.size());
  return std::make_shared<const std::string>(std::move(s));
}

// Filled member by member: clang 14 has no parenthesised aggregate initialisation, and a brace
// temporary would be copied (the destructors make the types non-movable).
namespace {
std::shared_ptr<ListObject> make_list(std::vector<Value> items, bool is_tuple) {
  auto l = std::make_shared<ListObject>();
  l->items = std::move(items);
  l->is_tuple = is_tuple;
  return l;
}
std::shared_ptr<DictObject> make_dict(std::vector<std::pair<Value, Value>> items) {
  auto d = std::make_shared<DictObject>();
  d->items = std::move(items);
  return d;
}
}  // namespace

Value Value::list(std::vector<Value> items) {
  budget::check_list(items.size());
  budget::built(items.size() * sizeof(Value));
  return Value(Variant(make_list(std::move(items), false)));
}

Value Value::tuple(std::vector<Value> items) {
  budget::check_list(items.size());
  budget::built(items.size() * sizeof(Value));
  return Value(Variant(make_list(std::move(items), true)));
}

Value Value::dict(std::vector<std::pair<Value, Value>> items) {
  budget::check_list(items.size());
  budget::built(items.size() * 2 * sizeof(Value));
  return Value(Variant(make_dict(std::move(items))));
}

Value Value::namespace_(std::vector<std::pair<Value, Value>> attrs) {
  budget::check_list(attrs.size());
  budget::built(attrs.size() * 2 * sizeof(Value));
  return Value(Variant(NamespacePtr{make_dict(std::move(attrs))}));
}

Value Value::function(std::string name, std::function<Value(CallArgs&)> call, bool is_macro) {
  return Value(Variant(std::make_shared<const Function>(Function{std::move(name), std::move(call), is_macro})));
}

Value Value::loop(LoopObject loop) { return Value(Variant(std::make_shared<const LoopObject>(std::move(loop)))); }

Value Value::iterator(std::vector<Value> items, const char* type_name) {
  auto it = std::make_shared<IteratorObject>();
  it->items = std::move(items);
  it->type_name = type_name;
  return Value(Variant(std::move(it)));
}

Value Value::iterator(std::function<std::vector<Value>()> produce, const char* type_name) {
  auto it = std::make_shared<IteratorObject>();
  it->produce = std::move(produce);
  it->type_name = type_name;
  return Value(Variant(std::move(it)));
}

Value Value::from_json(const nlohmann::ordered_json& j) { return from_json_at(j, 0); }

const void* Value::container_id() const {
  switch (kind()) {
    case Kind::List: return std::get<ListPtr>(v_).get();
    case Kind::Dict:
    case Kind::Namespace: return &dict_obj();
    default: return nullptr;
  }
}

void Value::append(Value item) const {
  const ListPtr& list = std::get<ListPtr>(v_);
  budget::check_list(list->items.size() + 1);
  budget::built(sizeof(Value));
  if (!list->mutated) {
    list->mutated = true;
    budget::at_end([weak = std::weak_ptr<ListObject>(list)] {
      if (auto l = weak.lock()) release_values(l->items);
    });
  }
  list->items.push_back(std::move(item));
}

void Value::set_attribute(std::string name, Value value) const {
  const DictPtr& attrs = std::get<NamespacePtr>(v_).attrs;
  if (!attrs->mutated) {
    attrs->mutated = true;
    budget::at_end([weak = std::weak_ptr<DictObject>(attrs)] {
      if (auto d = weak.lock()) {
        auto items = std::move(d->items);
        d->items.clear();
        DictObject doomed;
        doomed.items = std::move(items);  // its destructor releases them one at a time
      }
    });
  }
  budget::built(2 * sizeof(Value));
  attrs->set(Value(std::move(name)), std::move(value));
}

double Value::to_double() const {
  if (is_float()) return as_float();
  if (is_int()) return static_cast<double>(as_int());
  if (is_bool()) return as_bool() ? 1.0 : 0.0;
  eval_fail("expected a number, got {}", type_name());
}

int64_t Value::to_int() const {
  if (is_int()) return as_int();
  if (is_bool()) return as_bool() ? 1 : 0;
  eval_fail("expected an integer, got {}", type_name());
}

const std::string& Value::undefined_hint() const {
  static const std::string none_given = "value is undefined";
  const auto& u = std::get<Undefined>(v_);
  return u.hint ? *u.hint : none_given;
}

DictObject& Value::dict_obj() const {
  if (is_namespace()) return *std::get<NamespacePtr>(v_).attrs;
  return *std::get<DictPtr>(v_);
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::Undefined: return false;
    case Kind::None: return false;
    case Kind::Bool: return as_bool();
    case Kind::Int: return as_int() != 0;
    case Kind::Float: return as_float() != 0.0;
    case Kind::String: return !str().empty();
    case Kind::List: return !items().empty();
    case Kind::Dict: return !dict_obj().items.empty();
    default: return true;
  }
}

std::string Value::to_str() const {
  switch (kind()) {
    case Kind::Undefined: return "";
    case Kind::None: return "None";
    case Kind::Bool: return as_bool() ? "True" : "False";
    case Kind::Int: return std::to_string(as_int());
    case Kind::Float: return python_float_repr(as_float());
    case Kind::String: return str();
    case Kind::Function:
      return function_obj().is_macro ? fmt::format("<Macro '{}'>", function_obj().name)
                                     : fmt::format("<built-in function {}>", function_obj().name);
    case Kind::Loop:
      return fmt::format("<LoopContext {}/{}>", loop_obj().index0 + 1, loop_obj().items->size());
    case Kind::Iterator:  // Python adds the address; no text can match it
      return fmt::format("<{} object>", iterator_obj().type_name);
    default: return repr();  // containers, and Undefined (not reached)
  }
}

std::string Value::repr() const {
  std::string out;
  ReprState st;
  append_repr(out, *this, st);
  return out;
}

const char* Value::type_name() const {
  switch (kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return is_tuple() ? "tuple" : "list";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Function: return function_obj().is_macro ? "Macro" : "builtin_function_or_method";
    case Kind::Loop: return "LoopContext";
    case Kind::Iterator: return iterator_obj().type_name;
  }
  return "object";
}

std::string Value::object_description() const {
  // Jinja2's object_type_repr: None -> 'None', builtins -> 'dict object', others by class name.
  if (is_none()) return "'None'";
  if (is_undefined()) return "'Undefined'";
  return fmt::format("'{} object'", type_name());
}

bool Value::equals_at(const Value& other, int depth) const {
  budget::comparison();
  const Kind a = kind(), b = other.kind();
  if (is_number() && other.is_number()) return numeric_equal(*this, other);
  if (a != b) return false;
  switch (a) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String:
      if (str().size() != other.str().size()) return false;
      budget::scanned(str().size());
      return str() == other.str();
    case Kind::List: {
      if (container_id() == other.container_id()) return true;
      if (is_tuple() != other.is_tuple()) return false;
      const auto &x = items(), &y = other.items();
      if (x.size() != y.size()) return false;
      check_compare_depth(depth);
      for (size_t i = 0; i < x.size(); ++i) {
        if (!x[i].equals_at(y[i], depth + 1)) return false;
      }
      return true;
    }
    case Kind::Dict: {
      if (container_id() == other.container_id()) return true;
      const auto &x = dict_obj(), &y = other.dict_obj();
      if (x.items.size() != y.items.size()) return false;
      check_compare_depth(depth);
      for (const auto& [k, v] : x.items) {
        const Value* w = nullptr;
        for (const auto& [yk, yv] : y.items) {
          if (k.equals_at(yk, depth + 1)) {
            w = &yv;
            break;
          }
        }
        if (w == nullptr || !v.equals_at(*w, depth + 1)) return false;
      }
      return true;
    }
    case Kind::Namespace: return &dict_obj() == &other.dict_obj();
    case Kind::Function: return &function_obj() == &other.function_obj();
    case Kind::Loop: return &loop_obj() == &other.loop_obj();
    case Kind::Iterator: return &iterator_obj() == &other.iterator_obj();
    default: return false;
  }
}

bool Value::less_at(const Value& other, int depth) const {
  budget::comparison();
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) return to_double() < other.to_double();
    return to_int() < other.to_int();
  }
  if (is_string() && other.is_string()) {
    budget::scanned(std::min(str().size(), other.str().size()));
    return str() < other.str();  // UTF-8 order is code point order
  }
  if (is_list() && other.is_list() && is_tuple() == other.is_tuple()) {
    if (container_id() == other.container_id()) return false;
    check_compare_depth(depth);
    const auto &x = items(), &y = other.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!x[i].equals_at(y[i], depth + 1)) return x[i].less_at(y[i], depth + 1);
    }
    return x.size() < y.size();
  }
  if (is_undefined() || other.is_undefined()) {
    eval_fail("{}", is_undefined() ? undefined_hint() : other.undefined_hint());
  }
  eval_fail("'<' not supported between instances of '{}' and '{}'", type_name(), other.type_name());
}

size_t Value::length() const {
  switch (kind()) {
    case Kind::Undefined: return 0;
    case Kind::String: return text::length(str());
    case Kind::List: return items().size();
    case Kind::Dict: return dict_obj().items.size();
    case Kind::Loop: return loop_obj().items->size();
    default: eval_fail("object of type '{}' has no len()", type_name());
  }
}

std::vector<Value> Value::iterate() const {
  switch (kind()) {
    case Kind::Undefined: return {};
    case Kind::List:
      budget::built(items().size() * sizeof(Value));  // the copy a loop or filter walks
      return items();
    case Kind::Dict: {
      std::vector<Value> keys;
      keys.reserve(dict_obj().items.size());
      for (const auto& kv : dict_obj().items) keys.push_back(kv.first);
      return keys;
    }
    case Kind::Iterator: {
      IteratorObject& it = iterator_obj();
      std::vector<Value>& items = it.get();
      std::vector<Value> rest(items.begin() + static_cast<std::ptrdiff_t>(it.next), items.end());
      it.next = items.size();
      return rest;
    }
    case Kind::String: {
      std::vector<Value> chars;
      const std::string& s = str();
      budget::check_list(text::length(s));  // before making one string per character
      chars.reserve(text::length(s));
      if (text::is_ascii(s)) {
        for (char c : s) chars.emplace_back(std::string(1, c));
      } else {
        for (char32_t c : text::decode(s)) {
          std::string one;
          text::append_utf8(one, c);
          chars.emplace_back(std::move(one));
        }
      }
      return chars;
    }
    default: eval_fail("'{}' object is not iterable", type_name());
  }
}

std::string json_dumps(const Value& v, const JsonDumpOptions& options) {
  std::string out;
  JsonState st{options, {}};
  append_json(out, v, st);
  return out;
}

std::string python_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form: "d[.ddd]e[+-]XX".
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exp10 = std::stoi(sci.substr(e + 1));
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  std::string out = negative ? "-" : "";
  if (exp10 >= -4 && exp10 < 16) {
    // Fixed notation with at least one digit after the point.
    if (exp10 < 0) {
      out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    } else if (static_cast<size_t>(exp10) + 1 >= digits.size()) {
      out += digits + std::string(static_cast<size_t>(exp10) + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exp10) + 1) + "." + digits.substr(static_cast<size_t>(exp10) + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += fmt::format("e{}{:02d}", exp10 < 0 ? '-' : '+', std::abs(exp10));
  return out;
}

}  // namespace qwen3::jinja
