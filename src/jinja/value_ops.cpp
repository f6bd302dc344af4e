// Python operators and attribute / item / method access on jinja::Value, as Jinja2's sandboxed
// environment performs them.
#include <cmath>
#include <limits>

#include "jinja/builtins.h"
#include "jinja/template_limits.h"
#include "jinja/text.h"

namespace qwen3::jinja {
namespace {

[[noreturn]] void fail_undefined(const Value& v) { eval_fail("{}", v.undefined_hint()); }

void check_defined(const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
}

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  eval_fail("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name());
}

[[noreturn]] void overflow() { eval_fail("integer overflow (Python integers are unbounded; 64-bit here)"); }

int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) eval_fail("integer division or modulo by zero");
  if (a == std::numeric_limits<int64_t>::min() && b == -1) overflow();  // 2**63; the C++ division traps
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  if (b == 0) eval_fail("integer modulo by zero");
  if (b == -1) return 0;  // INT64_MIN % -1 traps in C++; every int is a multiple of -1
  int64_t m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

// Python's float divmod: the quotient floored, the remainder with the divisor's sign.
std::pair<double, double> float_divmod(double a, double b) {
  if (b == 0) eval_fail("float divmod()");
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) {
      mod += b;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, b);
  }
  double floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, a / b);
  }
  return {floordiv, mod};
}

// The size of `unit * n` items or bytes, saturated (the size checks then reject it).
size_t saturated_product(size_t unit, int64_t n) {
  size_t total = 0;
  if (__builtin_mul_overflow(unit, static_cast<uint64_t>(n), &total)) return SIZE_MAX;
  return total;
}

Value repeat(const Value& seq, int64_t n) {
  const size_t unit = seq.is_string() ? seq.str().size() : seq.items().size();
  if (n <= 0 || unit == 0) return seq.is_string() ? Value("") : (seq.is_tuple() ? Value::tuple({}) : Value::list());
  const size_t total = saturated_product(unit, n);
  if (seq.is_string()) {
    budget::check_string(total);
    std::string out;
    out.reserve(total);
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return Value(std::move(out));
  }
  budget::check_list(total);
  std::vector<Value> out;
  out.reserve(total);
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}


// Python slice.indices for a sequence of `len` items.
struct SliceIndices {
  int64_t start, stop, step;
};
SliceIndices slice_indices(const Value& start, const Value& stop, const Value& step, int64_t len) {
  auto as_index = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) eval_fail("slice {} must be an integer or None, not {}", what, v.type_name());
    return v.to_int();
  };
  int64_t st = as_index(step, "step").value_or(1);
  if (st == 0) eval_fail("slice step cannot be zero");
  if (st < -std::numeric_limits<int64_t>::max()) st = -std::numeric_limits<int64_t>::max();  // as CPython, so -st fits
  auto clamp = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t x = *v;
    if (x < 0) {
      x += len;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= len) {
      x = st < 0 ? len - 1 : len;
    }
    return x;
  };
  return {clamp(as_index(start, "start"), st < 0 ? len - 1 : 0), clamp(as_index(stop, "stop"), st < 0 ? -1 : len), st};
}

std::optional<std::string> opt_string(const Value& v, const char* method) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  if (!v.is_string()) eval_fail("{} arg must be None or str, not {}", method, v.type_name());
  return v.str();
}

const std::string& need_string(const Value& v, const char* what) {
  if (!v.is_string()) eval_fail("{}: expected a string, got {}", what, v.type_name());
  return v.str();
}

// Python's startswith / endswith: a prefix or a tuple of prefixes.
bool affix_match(const std::string& s, const Value& affix, bool prefix, const char* method) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) eval_fail("{} first arg must be str or a tuple of str, not {}", method, a.type_name());
    const std::string& x = a.str();
    if (x.size() > s.size()) return false;
    budget::scanned(x.size());
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_list()) {
    for (const Value& a : affix.items()) {
      if (one(a)) return true;
    }
    return false;
  }
  return one(affix);
}

Value string_list(std::vector<std::string> parts) {
  std::vector<Value> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.emplace_back(std::move(p));
  return Value::list(std::move(out));
}

Value bound(const Value& self, std::string_view name, std::function<Value(const Value&, CallArgs&)> fn) {
  return Value::function(std::string(name), [self, fn = std::move(fn)](CallArgs& a) { return fn(self, a); });
}

// The str methods chat templates call. `self` is a str.
std::optional<Value> string_method(const Value& self, std::string_view name) {
  using A = CallArgs;
  const std::string_view n = name;
  if (n == "startswith" || n == "endswith") {
    const bool prefix = n == "startswith";
    return bound(self, n, [prefix](const Value& s, A& a) {
      auto v = bind_args(prefix ? "startswith" : "endswith", a, {{"prefix", Value()}});
      return Value(affix_match(s.str(), v[0], prefix, prefix ? "startswith" : "endswith"));
    });
  }
  if (n == "split" || n == "rsplit") {
    const bool right = n == "rsplit";
    return bound(self, n, [right](const Value& s, A& a) {
      auto v = bind_args("split", a, {{"sep", Value::none()}, {"maxsplit", Value(-1)}});
      const auto sep = opt_string(v[0], "split");
      if (sep && sep->empty()) eval_fail("empty separator");
      const int64_t maxsplit = v[1].to_int();
      return string_list(right ? text::rsplit(s.str(), sep, maxsplit) : text::split(s.str(), sep, maxsplit));
    });
  }
  if (n == "strip" || n == "lstrip" || n == "rstrip") {
    const bool left = n != "rstrip", right = n != "lstrip";
    return bound(self, n, [left, right](const Value& s, A& a) {
      auto v = bind_args("strip", a, {{"chars", Value::none()}});
      return Value(text::strip(s.str(), opt_string(v[0], "strip"), left, right));
    });
  }
  if (n == "replace") {
    return bound(self, n, [](const Value& s, A& a) {
      auto v = bind_args("replace", a, {{"old", Value()}, {"new", Value()}, {"count", Value(-1)}});
      return str_replace(s.str(), need_string(v[0], "replace"), need_string(v[1], "replace"), v[2].to_int());
    });
  }
  auto no_args = [&](std::string (*f)(std::string_view)) {
    return bound(self, n, [f, n = std::string(n)](const Value& s, A& a) {
      bind_args(n, a, {});
      return Value(f(s.str()));
    });
  };
  if (n == "upper") return no_args(text::upper);
  if (n == "swapcase") return no_args(text::swapcase);
  if (n == "lower") return no_args(text::lower);
  if (n == "title") return no_args(text::title);
  if (n == "capitalize") return no_args(text::capitalize);
  if (n == "find" || n == "rfind" || n == "index" || n == "rindex" || n == "count") {
    return bound(self, n, [n = std::string(n)](const Value& s, A& a) {
      auto v = bind_args(n, a, {{"sub", Value()}});
      const std::string& sub = need_string(v[0], n.c_str());
      if (n == "count") return Value(text::count(s.str(), sub));
      const int64_t at = (n == "find" || n == "index") ? text::find(s.str(), sub) : text::rfind(s.str(), sub);
      if (at < 0 && (n == "index" || n == "rindex")) eval_fail("substring not found");
      return Value(at);
    });
  }
  if (n == "join") {
    return bound(self, n, [](const Value& s, A& a) {
      auto v = bind_args("join", a, {{"iterable", Value()}});
      std::string out;
      size_t i = 0;
      for (const Value& item : v[0].iterate()) {
        if (!item.is_string()) eval_fail("sequence item {}: expected str instance, {} found", i, item.type_name());
        if (i++) out += s.str();
        out += item.str();
        budget::check_string(out.size());
      }
      return Value(std::move(out));
    });
  }
  if (n == "splitlines") {
    return bound(self, n, [](const Value& s, A& a) {
      auto v = bind_args("splitlines", a, {{"keepends", Value(false)}});
      return string_list(text::splitlines(s.str(), v[0].truthy()));
    });
  }
  if (n == "isdigit" || n == "isalpha" || n == "isalnum" || n == "isspace" || n == "isupper" || n == "islower") {
    return bound(self, n, [n = std::string(n)](const Value& s, A& a) {
      bind_args(n, a, {});
      if (n == "isupper") return Value(text::is_upper(s.str()));
      if (n == "islower") return Value(text::is_lower(s.str()));
      const std::u32string u = text::decode(s.str());
      bool (*pred)(char32_t) = n == "isdigit" ? text::is_digit : n == "isalpha" ? text::is_alpha
                               : n == "isalnum" ? text::is_alnum : text::is_space;
      return Value(!u.empty() && std::all_of(u.begin(), u.end(), pred));
    });
  }
  if (n == "format") {
    return bound(self, n, [](const Value& s, A& a) { return str_format(s.str(), a); });
  }
  return std::nullopt;
}

std::optional<Value> dict_method(const Value& self, std::string_view n) {
  if (n == "items" || n == "keys" || n == "values") {
    return bound(self, n, [n = std::string(n)](const Value& d, CallArgs& a) {
      bind_args(n, a, {});
      std::vector<Value> out;
      for (const auto& [k, v] : d.dict_obj().items) {
        out.push_back(n == "items" ? Value::tuple({k, v}) : n == "keys" ? k : v);
      }
      Value view = Value::list(std::move(out));
      view.list_obj_mut().view = n == "items" ? "dict_items" : n == "keys" ? "dict_keys" : "dict_values";
      return view;
    });
  }
  if (n == "get") {
    return bound(self, n, [](const Value& d, CallArgs& a) {
      auto v = bind_args("get", a, {{"key", Value()}, {"default", Value::none()}});
      const Value* found = d.dict_obj().find(v[0]);
      return found ? *found : v[1];
    });
  }
  if (n == "copy") {
    return bound(self, n, [](const Value& d, CallArgs& a) {
      bind_args("copy", a, {});
      return Value::dict(d.dict_obj().items);
    });
  }
  if (n == "pop" || n == "popitem" || n == "update" || n == "clear" || n == "setdefault") {
    return Value::undefined(fmt::format("access to attribute '{}' of 'dict' object is unsafe.", n));
  }
  return std::nullopt;
}

// Which list mutations templates may use: `append` only. transformers renders in Jinja2's
// ImmutableSandboxedEnvironment, which refuses every mutation of lists and dicts; templates
// written for other engines (llama.cpp's minja, vLLM's fallbacks) use `append` to collect items
// into namespace lists and into `messages`, so we allow that one, in place as Python does. The
// rest (pop, extend, insert, remove, reverse, sort, clear, and every dict mutation) stay refused
// as the sandbox refuses them: no real template we know needs them, and each is one more way to
// reorder a conversation behind the renderer's back. `append` can make a list contain itself;
// printing, comparing and serialising handle that (value.h), and the render breaks such cycles
// when it ends (Value::append), so they cannot leak.
std::optional<Value> list_method(const Value& self, std::string_view n) {
  if (self.list_obj().group && (n == "grouper" || n == "list")) return self.items()[n == "list" ? 1 : 0];
  if (n == "append") {
    return bound(self, n, [](const Value& l, CallArgs& a) {
      auto v = bind_args("append", a, {{"object", Value()}});
      if (l.is_tuple()) eval_fail("'tuple' object has no attribute 'append'");
      l.append(std::move(v[0]));
      return Value::none();
    });
  }
  if (n == "index" || n == "count") {
    return bound(self, n, [n = std::string(n)](const Value& l, CallArgs& a) {
      auto v = bind_args(n, a, {{"value", Value()}});
      int64_t hits = 0;
      for (size_t i = 0; i < l.items().size(); ++i) {
        if (!l.items()[i].equals(v[0])) continue;
        if (n == "index") return Value(static_cast<int64_t>(i));
        ++hits;
      }
      if (n == "index") eval_fail("{} is not in list", v[0].repr());
      return Value(hits);
    });
  }
  if (n == "pop" || n == "extend" || n == "insert" || n == "remove" || n == "reverse" || n == "sort" || n == "clear") {
    return Value::undefined(fmt::format("access to attribute '{}' of 'list' object is unsafe.", n));
  }
  return std::nullopt;
}

std::optional<Value> loop_attribute(const Value& self, std::string_view n) {
  const LoopObject& l = self.loop_obj();
  const int64_t i = static_cast<int64_t>(l.index0), len = static_cast<int64_t>(l.items->size());
  if (n == "index") return Value(i + 1);
  if (n == "index0") return Value(i);
  if (n == "revindex") return Value(len - i);
  if (n == "revindex0") return Value(len - i - 1);
  if (n == "first") return Value(i == 0);
  if (n == "last") return Value(i == len - 1);
  if (n == "length") return Value(len);
  if (n == "depth") return Value(static_cast<int64_t>(l.depth0) + 1);
  if (n == "depth0") return Value(static_cast<int64_t>(l.depth0));
  if (n == "previtem") return i > 0 ? (*l.items)[i - 1] : Value::undefined("there is no previous item");
  if (n == "nextitem") return i + 1 < len ? (*l.items)[i + 1] : Value::undefined("there is no next item");
  if (n == "cycle") {
    return bound(self, n, [](const Value& lv, CallArgs& a) {
      if (a.positional.empty()) eval_fail("no items for cycling given");
      return a.positional[lv.loop_obj().index0 % a.positional.size()];
    });
  }
  if (n == "changed") {
    return bound(self, n, [](const Value& lv, CallArgs& a) {
      Value now = Value::list(a.positional);
      Value& last = *lv.loop_obj().last_changed;
      if (last.is_undefined()) {  // `loop.changed(loop)` would make a cycle: break it when the render ends
        budget::at_end([weak = std::weak_ptr<Value>(lv.loop_obj().last_changed)] {
          if (auto p = weak.lock()) *p = Value();
        });
      }
      if (!last.is_undefined() && last.equals(now)) return Value(false);
      last = now;
      return Value(true);
    });
  }
  return std::nullopt;
}

Value no_attribute(const Value& obj, std::string_view name) {
  return Value::undefined(fmt::format("{} has no attribute '{}'", obj.object_description(), name));
}

Value no_element(const Value& obj, const Value& key) {
  return Value::undefined(fmt::format("{} has no element {}", obj.object_description().substr(1, obj.object_description().size() - 2), key.repr()));
}

// Python's obj[key] for str, list, tuple and dict; nullopt where Python raises.
std::optional<Value> python_getitem(const Value& obj, const Value& key) {
  if (obj.is_dict()) {
    const Value* v = obj.dict_obj().find(key);
    return v ? std::optional<Value>(*v) : std::nullopt;
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.to_int();
    if (obj.is_list()) {
      const int64_t len = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += len;
      if (i < 0 || i >= len) return std::nullopt;
      return obj.items()[static_cast<size_t>(i)];
    }
    const std::string& s = obj.str();
    if (text::is_ascii(s)) {
      const int64_t len = static_cast<int64_t>(s.size());
      if (i < 0) i += len;
      if (i < 0 || i >= len) return std::nullopt;
      return Value(std::string(1, s[static_cast<size_t>(i)]));
    }
    const std::u32string u = text::decode(s);
    const int64_t len = static_cast<int64_t>(u.size());
    if (i < 0) i += len;
    if (i < 0 || i >= len) return std::nullopt;
    return Value(text::encode(std::u32string(1, u[static_cast<size_t>(i)])));
  }
  return std::nullopt;
}

// Python's getattr(obj, name); nullopt for AttributeError.
std::optional<Value> python_getattr(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Value::Kind::String: return string_method(obj, name);
    case Value::Kind::Dict: return dict_method(obj, name);
    case Value::Kind::List: return list_method(obj, name);
    case Value::Kind::Namespace: {
      const Value* v = obj.dict_obj().find(name);
      return v ? std::optional<Value>(*v) : std::nullopt;
    }
    case Value::Kind::Loop: return loop_attribute(obj, name);
    default: return std::nullopt;
  }
}

}  // namespace

Value str_replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count) {
  // The result's size first: `s.replace('', x)` inserts x len(s) + 1 times.
  const int64_t hits = text::count(s, old);
  const size_t n = static_cast<size_t>(count < 0 ? hits : std::min(count, hits));
  if (replacement.size() > old.size()) {
    budget::check_string(s.size() + std::min(saturated_product(replacement.size() - old.size(), static_cast<int64_t>(n)),
                                             SIZE_MAX - s.size()));
  }
  return Value(text::replace(s, old, replacement, count));
}

Value get_attr_only(const Value& obj, std::string_view name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (auto v = python_getattr(obj, name)) return *v;
  return no_attribute(obj, name);
}

Value get_attr(const Value& obj, std::string_view name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (auto v = python_getattr(obj, name)) return *v;
  if (auto v = python_getitem(obj, Value(name))) return *v;
  return no_attribute(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (auto v = python_getitem(obj, key)) return *v;
  if (key.is_string()) {
    if (auto v = python_getattr(obj, key.str())) return *v;
    return no_attribute(obj, key.str());
  }
  return no_element(obj, key);
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) fail_undefined(obj);
  // Jinja2 compiles a slice to a plain Python subscript: no fallback to undefined.
  if (obj.is_dict()) eval_fail("unhashable type: 'slice'");
  if (!obj.is_string() && !obj.is_list()) eval_fail("'{}' object is not subscriptable", obj.type_name());
  const bool ascii = obj.is_string() && text::is_ascii(obj.str());
  const std::u32string u = obj.is_string() && !ascii ? text::decode(obj.str()) : std::u32string();
  const int64_t len = obj.is_list() ? static_cast<int64_t>(obj.items().size())
                      : ascii        ? static_cast<int64_t>(obj.str().size())
                                     : static_cast<int64_t>(u.size());
  const SliceIndices s = slice_indices(start, stop, step, len);
  // start and stop lie in [-1, len], so their difference fits; i + step might not.
  int64_t count = 0;
  if (s.step > 0 && s.start < s.stop) count = (s.stop - s.start - 1) / s.step + 1;
  if (s.step < 0 && s.start > s.stop) count = (s.start - s.stop - 1) / -s.step + 1;
  std::vector<int64_t> picks;
  picks.reserve(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) picks.push_back(s.start + k * s.step);
  if (obj.is_list()) {
    std::vector<Value> out;
    out.reserve(picks.size());
    for (int64_t i : picks) out.push_back(obj.items()[static_cast<size_t>(i)]);
    return obj.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }
  std::string out;
  out.reserve(picks.size());
  for (int64_t i : picks) {
    if (ascii) out.push_back(obj.str()[static_cast<size_t>(i)]);
    else text::append_utf8(out, u[static_cast<size_t>(i)]);
  }
  return Value(std::move(out));
}

Value call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.is_loop()) {
    if (!callee.loop_obj().recurse) eval_fail("The loop must have the 'recursive' marker to be called recursively.");
    return callee.loop_obj().recurse(args);
  }
  if (!callee.is_function()) eval_fail("'{}' object is not callable", callee.type_name());
  return callee.function_obj().call(args);
}

Value unary_minus(const Value& v, bool negate) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_float()) return Value(negate ? -v.as_float() : v.as_float());
  if (v.is_int() || v.is_bool()) {
    const int64_t i = v.to_int();
    if (negate && i == std::numeric_limits<int64_t>::min()) eval_fail("integer overflow");
    return Value(negate ? -i : i);
  }
  eval_fail("bad operand type for unary {}: '{}'", negate ? '-' : '+', v.type_name());
}

Value binary_op(BinaryExpr::Op op, const Value& a, const Value& b) {
  using Op = BinaryExpr::Op;
  if (op == Op::Concat) return Value(a.to_str() + b.to_str());
  if (op == Op::Mod && a.is_string()) return percent_format(a.str(), b);  // str % Undefined is fine
  check_defined(a, b);
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool numbers = a.is_number() && b.is_number();
  int64_t r = 0;
  switch (op) {
    case Op::Add:
      if (ints) {
        if (__builtin_add_overflow(a.to_int(), b.to_int(), &r)) overflow();
        return Value(r);
      }
      if (numbers) return Value(a.to_double() + b.to_double());
      if (a.is_string() && b.is_string()) return Value(a.str() + b.str());
      if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        std::vector<Value> out = a.items();
        out.insert(out.end(), b.items().begin(), b.items().end());
        return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
      if (a.is_string() || a.is_list()) {
        eval_fail("can only concatenate {} (not \"{}\") to {}", a.type_name(), b.type_name(), a.type_name());
      }
      unsupported("+", a, b);
    case Op::Sub:
      if (ints) {
        if (__builtin_sub_overflow(a.to_int(), b.to_int(), &r)) overflow();
        return Value(r);
      }
      if (numbers) return Value(a.to_double() - b.to_double());
      unsupported("-", a, b);
    case Op::Mul:
      if (ints) {
        if (__builtin_mul_overflow(a.to_int(), b.to_int(), &r)) overflow();
        return Value(r);
      }
      if (numbers) return Value(a.to_double() * b.to_double());
      if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.to_int());
      if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.to_int());
      unsupported("*", a, b);
    case Op::Div:
      if (!numbers) unsupported("/", a, b);
      if (b.to_double() == 0) eval_fail("division by zero");
      return Value(a.to_double() / b.to_double());
    case Op::FloorDiv:
      if (ints) return Value(floor_div(a.to_int(), b.to_int()));
      if (numbers) return Value(float_divmod(a.to_double(), b.to_double()).first);
      unsupported("//", a, b);
    case Op::Mod:
      if (a.is_string()) return percent_format(a.str(), b);
      if (ints) return Value(floor_mod(a.to_int(), b.to_int()));
      if (numbers) {
        if (b.to_double() == 0) eval_fail("float modulo");
        return Value(float_divmod(a.to_double(), b.to_double()).second);
      }
      unsupported("%", a, b);
    case Op::Pow:
      if (ints && b.to_int() >= 0) {
        int64_t base = a.to_int(), e = b.to_int(), result = 1;
        while (e > 0) {
          if ((e & 1) && __builtin_mul_overflow(result, base, &result)) overflow();
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value(result);
      }
      if (numbers) {
        if (a.to_double() == 0 && b.to_double() < 0) eval_fail("0.0 cannot be raised to a negative power");
        return Value(std::pow(a.to_double(), b.to_double()));
      }
      unsupported("** or pow()", a, b);
    default: eval_fail("internal error: bad binary operator");
  }
}

bool compare(CompareExpr::Op op, const Value& a, const Value& b) {
  using Op = CompareExpr::Op;
  switch (op) {
    case Op::Eq: return a.equals(b);
    case Op::Ne: return !a.equals(b);
    case Op::In: return contains(b, a);
    case Op::NotIn: return !contains(b, a);
    default: break;
  }
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  auto ordered = [&](const Value& x, const Value& y, const char* sym) {
    if (!((x.is_number() && y.is_number()) || (x.is_string() && y.is_string()) ||
          (x.is_list() && y.is_list() && x.is_tuple() == y.is_tuple()))) {
      eval_fail("'{}' not supported between instances of '{}' and '{}'", sym, a.type_name(), b.type_name());
    }
    return x.less(y);
  };
  switch (op) {
    case Op::Lt: return ordered(a, b, "<");
    case Op::Gt: return ordered(b, a, ">");
    case Op::Le: return !ordered(b, a, "<=");
    case Op::Ge: return !ordered(a, b, ">=");
    default: return false;
  }
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined: return false;  // Undefined iterates as empty
    case Value::Kind::String:
      if (!item.is_string()) eval_fail("'in <string>' requires string as left operand, not {}", item.type_name());
      budget::scanned(container.str().size());
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::List:
      for (const Value& v : container.items()) {
        if (v.equals(item)) return true;
      }
      return false;
    case Value::Kind::Dict: return container.dict_obj().find(item) != nullptr;
    case Value::Kind::Iterator:
      for (const Value& v : container.iterate()) {
        if (v.equals(item)) return true;
      }
      return false;
    default: eval_fail("argument of type '{}' is not iterable", container.type_name());
  }
}

}  // namespace qwen3::jinja
