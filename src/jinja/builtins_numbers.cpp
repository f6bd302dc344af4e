// Jinja2's numeric filters (abs, float, int, round) and range(), with Python's int semantics
// where they fit in int64 and our overflow error where Python's unbounded int would not.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "jinja/builtins.h"
#include "jinja/template_limits.h"
#include "jinja/text.h"

namespace qwen3::jinja {
namespace {

[[noreturn]] void int_overflow() { eval_fail("integer overflow (Python integers are unbounded; 64-bit here)"); }

// Python's int(x) of a float: NaN is a ValueError (nullopt), infinity an OverflowError, and a
// value past int64 (a valid Python int) our overflow error.
std::optional<int64_t> float_to_int(double d) {
  if (std::isnan(d)) return std::nullopt;
  if (std::isinf(d)) eval_fail("cannot convert float infinity to integer");
  const double t = std::trunc(d);
  if (!(t >= -0x1p63 && t < 0x1p63)) int_overflow();
  return static_cast<int64_t>(t);
}

// Python's int(str, base): optional sign, whitespace around, underscores between digits, and a
// 0x / 0o / 0b prefix matching the base (any, with base 0). nullopt for Python's ValueError; a
// valid number past int64 raises.
std::optional<int64_t> parse_python_int(const std::string& raw, int64_t base) {
  if (base != 0 && (base < 2 || base > 36)) return std::nullopt;  // "int() base must be >= 2 and <= 36, or 0"
  std::string s = text::strip(raw, std::nullopt, true, true);
  bool negative = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  auto prefix_base = [&](char c) { return c == 'x' || c == 'X' ? 16 : c == 'o' || c == 'O' ? 8 : c == 'b' || c == 'B' ? 2 : 0; };
  if (i + 1 < s.size() && s[i] == '0' && prefix_base(s[i + 1]) != 0 && (base == 0 || base == prefix_base(s[i + 1]))) {
    base = prefix_base(s[i + 1]);
    i += 2;
    if (i < s.size() && s[i] == '_') ++i;
  }
  if (base == 0) base = 10;
  if (i >= s.size()) return std::nullopt;
  int64_t v = 0;  // accumulated with the sign, so that -2**63 fits
  bool last_underscore = true, overflowed = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (last_underscore) return std::nullopt;
      last_underscore = true;
      continue;
    }
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 99;
    if (d >= base) return std::nullopt;
    if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, negative ? -d : d, &v)) overflowed = true;
    last_underscore = false;
  }
  if (last_underscore) return std::nullopt;
  if (overflowed) int_overflow();
  return v;
}

// Python's float(str).
std::optional<double> parse_python_float(const std::string& raw) {
  std::string s;
  for (char c : text::strip(raw, std::nullopt, true, true)) {
    if (c != '_') s.push_back(c);
  }
  if (s.empty()) return std::nullopt;
  std::string lowered = text::lower(s);
  if (lowered == "nan" || lowered == "+nan" || lowered == "-nan") return std::nan("");
  if (lowered == "inf" || lowered == "+inf" || lowered == "infinity" || lowered == "+infinity") return INFINITY;
  if (lowered == "-inf" || lowered == "-infinity") return -INFINITY;
  if (lowered.find_first_not_of("0123456789+-.e") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

// Python's round(x, ndigits) for floats: round half to even on the exact binary value, which is
// what printf's correctly rounded conversion does.
double python_round(double x, int64_t ndigits) {
  if (!std::isfinite(x)) return x;
  if (ndigits == 0) return std::nearbyint(x);
  if (ndigits > 300) return x;
  if (ndigits < -308) return 0.0 * x;  // as CPython: 10**-ndigits is past every double
  if (ndigits < 0) {
    const double p = std::pow(10.0, static_cast<double>(-ndigits));
    return std::nearbyint(x / p) * p;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(ndigits), x);
  return std::strtod(buf, nullptr);
}

// Python's round(int, ndigits): for ndigits < 0, the nearest multiple of 10**-ndigits, half to even.
int64_t python_round_int(int64_t x, int64_t ndigits) {
  if (ndigits >= 0) return x;
  if (ndigits < -18) return 0;  // |x| < 10**19 / 2
  int64_t p = 1;
  for (int64_t i = 0; i < -ndigits; ++i) p *= 10;
  int64_t q = x / p, r = x % p;  // truncated toward zero
  if (r < 0) r += p, --q;         // floored
  if (2 * r > p || (2 * r == p && (q & 1))) ++q;
  int64_t out = 0;
  if (__builtin_mul_overflow(q, p, &out)) int_overflow();
  return out;
}

}  // namespace

Value filter_abs(const Value& v, CallArgs& a) {
  bind_args("abs", a, {});
  if (v.is_float()) return Value(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) {
    if (v.to_int() == std::numeric_limits<int64_t>::min()) int_overflow();
    return Value(v.to_int() < 0 ? -v.to_int() : v.to_int());
  }
  if (v.is_undefined()) eval_fail("{}", v.undefined_hint());
  eval_fail("bad operand type for abs(): '{}'", v.type_name());
}

Value filter_float(const Value& v, CallArgs& a) {
  auto p = bind_args("float", a, {{"default", Value(0.0)}});
  if (v.is_number()) return Value(v.to_double());
  if (v.is_string()) {
    if (auto d = parse_python_float(v.str())) return Value(*d);
    return p[0];
  }
  if (v.is_undefined()) eval_fail("{}", v.undefined_hint());
  return p[0];
}

// Jinja2's do_int: int(value) (int(value, base) for a str), else int(float(value)), else the
// default; Python's OverflowError (int(inf)) is not caught, and neither is our int64 overflow.
Value filter_int(const Value& v, CallArgs& a) {
  auto p = bind_args("int", a, {{"default", Value(0)}, {"base", Value(10)}});
  if (v.is_int() || v.is_bool()) return Value(v.to_int());
  if (v.is_float()) {
    const auto i = float_to_int(v.as_float());
    return i ? Value(*i) : p[0];
  }
  if (v.is_string()) {
    if (auto i = parse_python_int(v.str(), p[1].is_int() ? p[1].as_int() : -1)) return Value(*i);
    if (auto d = parse_python_float(v.str())) {
      if (auto i = float_to_int(*d)) return Value(*i);
    }
    return p[0];
  }
  if (v.is_undefined()) eval_fail("{}", v.undefined_hint());
  return p[0];
}

Value filter_round(const Value& v, CallArgs& a) {
  auto p = bind_args("round", a, {{"precision", Value(0)}, {"method", Value("common")}});
  const std::string method = p[1].to_str();
  if (method != "common" && method != "ceil" && method != "floor") eval_fail("method must be common, ceil or floor");
  if (v.is_undefined()) eval_fail("{}", v.undefined_hint());
  if (!v.is_number()) eval_fail("type {} doesn't define __round__ method", v.type_name());
  const int64_t precision = p[0].to_int();
  if (method == "common") {
    if (!v.is_float()) return Value(python_round_int(v.to_int(), precision));  // round(int, n) stays an int
    return Value(python_round(v.as_float(), precision));
  }
  // Jinja2: math.ceil(value * 10**precision) / 10**precision; math.ceil(inf) raises.
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.to_double() * scale;
  if (std::isnan(x)) eval_fail("cannot convert float NaN to integer");
  if (std::isinf(x)) eval_fail("cannot convert float infinity to integer");
  if (scale == 0) eval_fail("division by zero");
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value global_range(CallArgs& a) {
  if (!a.keyword.empty()) eval_fail("range() takes no keyword arguments");
  if (a.positional.empty() || a.positional.size() > 3) eval_fail("range expected 1 to 3 arguments, got {}", a.positional.size());
  for (const Value& v : a.positional) {
    if (!v.is_int() && !v.is_bool()) eval_fail("'{}' object cannot be interpreted as an integer", v.type_name());
  }
  int64_t start = 0, stop, step = 1;
  if (a.positional.size() == 1) {
    stop = a.positional[0].to_int();
  } else {
    start = a.positional[0].to_int();
    stop = a.positional[1].to_int();
    if (a.positional.size() == 3) step = a.positional[2].to_int();
  }
  if (step == 0) eval_fail("range() arg 3 must not be zero");
  // Python's len(range): computed in 128 bits, where stop - start cannot overflow.
  const __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 stride = step > 0 ? static_cast<__int128>(step) : -static_cast<__int128>(step);
  const __int128 len = span <= 0 ? 0 : (span - 1) / stride + 1;
  budget::check_range(len > INT64_MAX ? INT64_MAX : static_cast<int64_t>(len));
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(len));
  for (int64_t k = 0; k < static_cast<int64_t>(len); ++k) out.emplace_back(static_cast<int64_t>(start + static_cast<__int128>(k) * step));
  return Value::list(std::move(out));
}

}  // namespace qwen3::jinja
