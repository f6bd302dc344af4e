// The values a chat template computes with: Python objects as Jinja2 sees them (None, bool, int,
// float, str, list, tuple, dict, Jinja's Undefined and namespace, callables), with Python's
// truthiness, equality, ordering, str() and repr(), and json.dumps.
//
// Lists, dicts and namespaces are shared by reference, as in Python: `ns.x = 1` changes the one
// namespace every name bound to it sees. What Jinja2's filters return as Python generators
// (map, select, reject, selectattr, rejectattr, unique, items; reverse of a list) is an Iterator:
// always true, without len() or indexing, and empty once iterated, as in Python. Strings are UTF-8; lengths, indices and slices count code
// points, as Python's do.
//
// Values may nest deeply and, through `list.append` and namespace attributes, refer to themselves.
// So nothing here recurses without a bound: str()/repr() print a container met again as [...] or
// {...} (as Python does), json_dumps raises "Circular reference detected", comparisons stop at
// RenderLimits::max_nesting_depth, and containers are destroyed by an explicit worklist rather
// than by recursive destructors. Building a string or list checks the render's size limits
// (jinja/template_limits.h).
#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace qwen3::jinja {

class Value;

// Raised by the value operations and the builtins for a Python TypeError, ValueError or Jinja
// UndefinedError; the renderer adds the template position of the expression that raised it.
class EvalError : public std::runtime_error {
 public:
  explicit EvalError(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void eval_fail(fmt::format_string<Args...> f, Args&&... args) {
  throw EvalError(fmt::format(f, std::forward<Args>(args)...));
}

// Destroys values one at a time from a worklist, so that freeing a list nested 100,000 deep (or a
// chain of them through loops and bound methods) does not recurse once per level.
void release_values(std::vector<Value>& values);

struct ListObject {
  std::vector<Value> items;
  bool is_tuple = false;  // prints as (a, b); never equal to a list
  const char* view = nullptr;  // "dict_items" etc.: what dict.items() returned, printed as Python does
  bool mutated = false;  // appended to during this render: may be part of a cycle
  bool group = false;    // a groupby result (grouper, list): a tuple whose items are also attributes

  ~ListObject();  // in value.cpp, where Value is complete (clang instantiates ~vector<Value> here)
};

// A one-shot Python iterator (a generator or a list_reverseiterator). Its items are produced on
// first use, as a Python generator runs only when consumed: a filter's error (`5 | select`)
// surfaces where the result is used, and not at all if it never is.
struct IteratorObject {
  std::function<std::vector<Value>()> produce;  // run once, on first use
  std::vector<Value> items;
  size_t next = 0;        // items before it have been consumed
  const char* type_name = nullptr;  // "generator", "list_reverseiterator"
  int depth = 1;          // generators producing from generators: 1 + the deepest source's

  ~IteratorObject();

  // The items, produced on first use. Defined in value.cpp: Value is incomplete here, and clang
  // instantiates std::vector<Value>'s assignment on the spot.
  std::vector<Value>& get();
};

// A Python dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).
// Lookup is linear; the dicts of chat templates (messages, tool schemas) are small.
struct DictObject {
  std::vector<std::pair<Value, Value>> items;
  bool mutated = false;  // a namespace assigned to during this render: may be part of a cycle

  ~DictObject();

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A builtin function, a bound method (`s.startswith`) or a macro.
struct Function {
  std::string name;
  std::function<Value(CallArgs&)> call;
  bool is_macro = false;
};

// The `loop` variable of a for loop. `items` are the iterated values after the loop's `if`.
struct LoopObject {
  std::shared_ptr<const std::vector<Value>> items;
  size_t index0 = 0;
  size_t depth0 = 0;
  std::shared_ptr<Value> last_changed;  // state of loop.changed()
  // A recursive loop's `loop(items)`: renders the loop body over `items` one level deeper and
  // returns the text; empty for a loop without the `recursive` marker.
  std::function<Value(CallArgs&)> recurse;

  ~LoopObject();
};

struct Undefined {
  // The UndefinedError message when the value is used where Jinja2 raises (`x.attr`, `x + 1`):
  // "'x' is undefined" or "'dict object' has no attribute 'y'".
  std::shared_ptr<const std::string> hint;
};

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function, Loop, Iterator };

  Value() : v_(Undefined{}) {}
  static Value undefined(std::string hint) { return Value(Undefined{std::make_shared<const std::string>(std::move(hint))}); }
  static Value none() { return Value(nullptr); }
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(int64_t{i}) {}
  Value(double d) : v_(d) {}
  // Checks the render's string size limit and counts the bytes built.
  Value(std::string s) : v_(new_string(std::move(s))) {}
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  static Value dict(std::vector<std::pair<Value, Value>> items = {});
  static Value namespace_(std::vector<std::pair<Value, Value>> attrs = {});
  static Value function(std::string name, std::function<Value(CallArgs&)> call, bool is_macro = false);
  static Value loop(LoopObject loop);
  static Value iterator(std::vector<Value> items, const char* type_name = "generator");
  static Value iterator(std::function<std::vector<Value>()> produce, const char* type_name = "generator");
  // Throws EvalError for input nested deeper than RenderLimits::max_nesting_depth.
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::Undefined; }
  bool is_none() const { return kind() == Kind::None; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is an int
  bool is_string() const { return kind() == Kind::String; }
  bool is_list() const { return kind() == Kind::List; }  // list or tuple
  bool is_tuple() const { return is_list() && list_obj().is_tuple; }
  bool is_dict() const { return kind() == Kind::Dict; }
  bool is_namespace() const { return kind() == Kind::Namespace; }
  bool is_function() const { return kind() == Kind::Function; }
  bool is_loop() const { return kind() == Kind::Loop; }
  bool is_iterator() const { return kind() == Kind::Iterator; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  // int, bool or float as a double.
  double to_double() const;
  // int or bool as an int64.
  int64_t to_int() const;
  const std::string& str() const { return *std::get<StrPtr>(v_); }
  const std::string& undefined_hint() const;
  const std::vector<Value>& items() const { return list_obj().items; }
  std::vector<Value>& mutable_items() const { return std::get<ListPtr>(v_)->items; }
  const ListObject& list_obj() const { return *std::get<ListPtr>(v_); }
  ListObject& list_obj_mut() const { return *std::get<ListPtr>(v_); }
  DictObject& dict_obj() const;  // dict or namespace
  const Function& function_obj() const { return *std::get<FnPtr>(v_); }
  const LoopObject& loop_obj() const { return *std::get<LoopPtr>(v_); }
  IteratorObject& iterator_obj() const { return *std::get<IterPtr>(v_); }

  // Python's bool(x); Undefined is false.
  bool truthy() const;
  // Python's str(x) as Jinja prints it: Undefined -> "", None -> "None", True -> "True".
  std::string to_str() const;
  // Python's repr(x): strings quoted, containers as ['a', 1] / {'a': 1} / ('a',).
  std::string repr() const;
  // The Python type name, for error messages ("str", "NoneType", "dict").
  const char* type_name() const;
  // Jinja's description of an object for "has no attribute" hints ("'dict object'", "'None'").
  std::string object_description() const;

  // Python ==. A container is equal to itself without looking inside (Python compares items by
  // identity first); nesting past the limit (a cycle, or a 100,000-deep list) throws EvalError.
  bool equals(const Value& other) const { return equals_at(other, 0); }
  // Python <; throws EvalError for types Python cannot order.
  bool less(const Value& other) const { return less_at(other, 0); }

  // The identity of a list, dict or namespace object (Python's id()); null for other values.
  const void* container_id() const;
  // `list.append`: the list grows in place, within the render's list size limit.
  void append(Value item) const;
  // `ns.attr = value` on a namespace.
  void set_attribute(std::string name, Value value) const;

  // Python len(); throws for values without one (Undefined has length 0).
  size_t length() const;
  // The items a for loop visits: a list's items, a dict's keys, a string's characters, an
  // iterator's remaining items (which consumes them); Undefined visits nothing. Throws for values
  // that are not iterable.
  std::vector<Value> iterate() const;

 private:
  using StrPtr = std::shared_ptr<const std::string>;
  using ListPtr = std::shared_ptr<ListObject>;
  using DictPtr = std::shared_ptr<DictObject>;
  using FnPtr = std::shared_ptr<const Function>;
  using LoopPtr = std::shared_ptr<const LoopObject>;
  using IterPtr = std::shared_ptr<IteratorObject>;
  struct NamespacePtr {
    DictPtr attrs;
  };
  // The order of alternatives matches Kind.
  using Variant = std::variant<Undefined, std::nullptr_t, bool, int64_t, double, StrPtr, ListPtr, DictPtr,
                               NamespacePtr, FnPtr, LoopPtr, IterPtr>;
  static StrPtr new_string(std::string s);
  bool equals_at(const Value& other, int depth) const;
  bool less_at(const Value& other, int depth) const;
  explicit Value(Variant v) : v_(std::move(v)) {}
  explicit Value(Undefined u) : v_(std::move(u)) {}
  explicit Value(std::nullptr_t) : v_(nullptr) {}

  Variant v_;
};

// json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...) as transformers'
// `tojson` filter calls it. indent: empty optional for none, else the string put per level.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonDumpOptions& options = {});

// repr() of a Python float: the shortest text that reads back the same double ("0.1", "1.0",
// "1e+16", "1.5e-05", "inf", "nan").
std::string python_float_repr(double x);

}  // namespace qwen3::jinja
