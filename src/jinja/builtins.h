// Python operators, attribute and item access, methods, and Jinja's filters, tests and globals,
// over jinja::Value. Everything here throws EvalError; the renderer adds the template position.
#pragma once

#include <optional>
#include <string_view>

#include "jinja/template_ast.h"
#include "jinja/value.h"

namespace qwen3::jinja {

// Thrown by raise_exception(message): the message is the template's own.
class RaisedError : public EvalError {
 public:
  using EvalError::EvalError;
};

// --- operators (value_ops.cpp) ---
Value binary_op(BinaryExpr::Op op, const Value& a, const Value& b);  // not And / Or
Value unary_minus(const Value& v, bool negate);
bool compare(CompareExpr::Op op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);  // Python `item in container`

// Jinja's environment.getattr: `obj.name` is the attribute (a method of str, dict or list, a
// namespace attribute, a loop property), else obj["name"], else an undefined that remembers why.
Value get_attr(const Value& obj, std::string_view name);
// Python's getattr only (the `attr` filter): no fallback to obj["name"].
Value get_attr_only(const Value& obj, std::string_view name);
// Jinja's environment.getitem: `obj[key]`, else the attribute `key` names, else undefined.
Value get_item(const Value& obj, const Value& key);
// Python's obj[start:stop:step] for str, list and tuple.
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// Calls a function, method or macro; calling an undefined raises its UndefinedError.
Value call(const Value& callee, CallArgs& args);
// printf-style `str % args` (value_format.cpp).
Value percent_format(const std::string& fmt_str, const Value& args);
// Python's str.format(*args, **kwargs) (str_format.cpp): fields {} {0} {name} with .attr and [key],
// conversions !s !r, and the format spec [[fill]align][sign][#][0][width][,|_][.precision][type].
// Raises EvalError worded as Python's ValueError / IndexError / KeyError, and for what is not
// supported (nested fields in a spec, !a, the 'n' type's locale).
Value str_format(const std::string& fmt_str, const CallArgs& args);
// Python's s.replace(old, new, count) (count < 0: all), refused before building a result past the
// render's string size limit.
Value str_replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count);

// --- builtins_numbers.cpp: entries of the filter and global tables in builtins.cpp ---
Value filter_abs(const Value& v, CallArgs& args);
Value filter_float(const Value& v, CallArgs& args);
Value filter_int(const Value& v, CallArgs& args);
Value filter_round(const Value& v, CallArgs& args);
Value global_range(CallArgs& args);

// --- builtins_sequences.cpp: entries of the filter table in builtins.cpp ---
Value filter_batch(const Value& v, CallArgs& args);
Value filter_slice(const Value& v, CallArgs& args);
Value filter_groupby(const Value& v, CallArgs& args);
Value filter_truncate(const Value& v, CallArgs& args);

// --- builtins.cpp ---
// Jinja's make_attrgetter: "a.b.0" looked up with getitem, part by part.
Value lookup_path(const Value& item, const Value& attribute);
// A Jinja2 filter written as a Python generator: its body runs when the result is first used.
// A generator over a generator runs its source when it runs: chains are bounded like nesting.
using GeneratorBody = std::vector<Value> (*)(const Value&, CallArgs&);
Value generator(const Value& v, CallArgs& a, GeneratorBody body);
bool is_filter(std::string_view name);
bool is_test(std::string_view name);
Value apply_filter(std::string_view name, const Value& input, CallArgs& args);
bool apply_test(std::string_view name, const Value& input, CallArgs& args);
// range, dict, namespace, raise_exception, strftime_now, joiner, cycler; nullopt for others.
std::optional<Value> global(std::string_view name);

// Binds call arguments to parameters by position then keyword, as Python does; parameters
// without a default (an Undefined default) that are not given stay undefined. Throws on unknown
// keywords or too many positional arguments.
struct Param {
  const char* name;
  Value default_value;
};
std::vector<Value> bind_args(std::string_view function, CallArgs& args, std::initializer_list<Param> params);

}  // namespace qwen3::jinja
