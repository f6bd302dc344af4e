// Python's string formatting over jinja::Value: printf-style `str % args` (and the `format`
// filter), and str.format with the format mini-language for the common cases.
#include <algorithm>
#include <optional>
#include <cmath>
#include <cstdio>
#include <limits>

#include "jinja/builtins.h"
#include "jinja/template_limits.h"
#include "jinja/text.h"

namespace qwen3::jinja {
namespace {

[[noreturn]] void overflow() { eval_fail("integer overflow (Python integers are unbounded; 64-bit here)"); }

// Python's int(x) of a float, where the result fits int64.
int64_t float_to_int(double d) {
  if (std::isnan(d)) eval_fail("cannot convert float NaN to integer");
  if (std::isinf(d)) eval_fail("cannot convert float infinity to integer");
  const double t = std::trunc(d);
  if (!(t >= -0x1p63 && t < 0x1p63)) overflow();
  return static_cast<int64_t>(t);
}

// A printf conversion's flags, width and precision ("%-08.3d" -> '-', '0', 8, 3).
struct FormatSpec {
  bool left = false, zero = false, plus = false, space = false, alt = false;
  size_t width = 0;
  std::optional<size_t> precision;
};

// Pads `body` (which holds `cps` code points) with spaces to the spec's width.
void append_padded(std::string& out, const std::string& body, size_t cps, const FormatSpec& f) {
  const size_t pad = f.width > cps ? f.width - cps : 0;
  if (!f.left) out.append(pad, ' ');
  out += body;
  if (f.left) out.append(pad, ' ');
}

// %d %i %x %X %o as Python writes them: a sign and then the magnitude (no two's complement),
// precision as a minimum digit count, '#' adding 0x / 0X / 0o.
void append_int(std::string& out, int64_t n, char conv, const FormatSpec& f) {
  const unsigned base = conv == 'x' || conv == 'X' ? 16 : conv == 'o' ? 8 : 10;
  const char* digit_chars = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  uint64_t mag = n < 0 ? uint64_t{0} - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  std::string digits;
  do {
    digits.push_back(digit_chars[mag % base]);
    mag /= base;
  } while (mag != 0);
  if (f.precision && *f.precision > digits.size()) digits.append(*f.precision - digits.size(), '0');
  std::reverse(digits.begin(), digits.end());
  std::string prefix = n < 0 ? "-" : f.plus ? "+" : f.space ? " " : "";
  if (f.alt && base != 10) prefix += conv == 'x' ? "0x" : conv == 'X' ? "0X" : "0o";
  if (f.zero && !f.left && f.width > prefix.size() + digits.size()) {
    digits.insert(0, f.width - prefix.size() - digits.size(), '0');
  }
  append_padded(out, prefix + digits, prefix.size() + digits.size(), f);
}

}  // namespace

// printf-style `str % args` (also the `format` filter): %s %r %d %i %f %F %e %E %g %G %x %X %o %c %%,
// with flags, width and precision, and %(name)s from a dict.
Value percent_format(const std::string& fmt_str, const Value& args) {
  std::vector<Value> positional;
  const DictObject* named = nullptr;
  // Python treats an argument with __getitem__ that is not a tuple (a dict, Jinja's Undefined) as
  // a mapping: it may stay unused.
  const bool mapping = args.is_dict() || args.is_undefined();
  if (args.is_tuple()) positional = args.items();
  else if (args.is_dict() && fmt_str.find("%(") != std::string::npos) named = &args.dict_obj();
  else positional.push_back(args);
  size_t next_arg = 0;
  std::string out;
  for (size_t i = 0; i < fmt_str.size(); ++i) {
    if (fmt_str[i] != '%') {
      out.push_back(fmt_str[i]);
      continue;
    }
    if (++i >= fmt_str.size()) eval_fail("incomplete format");
    Value arg;
    bool have_arg = false;
    if (fmt_str[i] == '(') {
      const size_t close = fmt_str.find(')', i);
      if (close == std::string::npos || named == nullptr) eval_fail("format requires a mapping");
      const Value* v = named->find(std::string_view(fmt_str).substr(i + 1, close - i - 1));
      if (v == nullptr) eval_fail("'{}'", fmt_str.substr(i + 1, close - i - 1));
      arg = *v;
      have_arg = true;
      i = close + 1;
    }
    FormatSpec f;
    for (; i < fmt_str.size() && std::string_view("-+ #0").find(fmt_str[i]) != std::string_view::npos; ++i) {
      const char c = fmt_str[i];
      (c == '-' ? f.left : c == '+' ? f.plus : c == ' ' ? f.space : c == '#' ? f.alt : f.zero) = true;
    }
    // Width and precision saturate; then the string size limit rejects them before any padding.
    auto number = [&] {
      size_t v = 0;
      for (; i < fmt_str.size() && std::isdigit(static_cast<unsigned char>(fmt_str[i])); ++i) {
        v = v > SIZE_MAX / 10 - 1 ? SIZE_MAX : v * 10 + static_cast<size_t>(fmt_str[i] - '0');
      }
      budget::check_string(v);
      return v;
    };
    f.width = number();
    if (i < fmt_str.size() && fmt_str[i] == '.') {
      ++i;
      f.precision = number();
    }
    if (i >= fmt_str.size()) eval_fail("incomplete format");
    const char conv = fmt_str[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_arg) {
      if (next_arg >= positional.size()) eval_fail("not enough arguments for format string");
      arg = positional[next_arg++];
    }
    switch (conv) {
      case 's':
      case 'r': {
        std::string s = conv == 's' ? arg.to_str() : arg.repr();
        size_t cps = text::length(s);
        if (f.precision && *f.precision < cps) {  // the first `precision` code points
          size_t at = 0, kept = 0;
          while (at < s.size() && kept < *f.precision) {
            ++at;
            while (at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) ++at;
            ++kept;
          }
          s.resize(at);
          cps = kept;
        }
        append_padded(out, s, cps, f);
        break;
      }
      case 'c': {
        std::string ch;
        if (arg.is_string() && text::length(arg.str()) == 1) {
          ch = arg.str();
        } else {
          if (!arg.is_int() && !arg.is_bool()) eval_fail("%c requires int or char");
          const int64_t n = arg.to_int();
          if (n < 0 || n >= 0x110000) eval_fail("%c arg not in range(0x110000)");
          text::append_utf8(ch, static_cast<char32_t>(n));
        }
        append_padded(out, ch, 1, f);
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o': {
        if (!arg.is_number()) eval_fail("%{} format: a real number is required, not {}", conv, arg.type_name());
        append_int(out, arg.is_float() ? float_to_int(arg.as_float()) : arg.to_int(), conv, f);
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!arg.is_number()) eval_fail("must be real number, not {}", arg.type_name());
        // Width and precision are at most max_string_bytes (checked above), so they fit an int.
        std::string spec = "%";
        if (f.left) spec += '-';
        if (f.plus) spec += '+';
        if (f.space) spec += ' ';
        if (f.alt) spec += '#';
        if (f.zero) spec += '0';
        spec += "*.*";
        spec += conv;
        const int width = static_cast<int>(f.width), precision = static_cast<int>(f.precision.value_or(6));
        const int n = std::snprintf(nullptr, 0, spec.c_str(), width, precision, arg.to_double());
        if (n < 0) eval_fail("cannot format {}", arg.repr());
        budget::check_string(out.size() + static_cast<size_t>(n));
        const size_t at = out.size();
        out.resize(at + static_cast<size_t>(n) + 1);
        std::snprintf(out.data() + at, static_cast<size_t>(n) + 1, spec.c_str(), width, precision, arg.to_double());
        out.resize(at + static_cast<size_t>(n));
        break;
      }
      default: eval_fail("unsupported format character '{}'", conv);
    }
    budget::check_string(out.size());
  }
  if (!mapping && next_arg < positional.size()) eval_fail("not all arguments converted during string formatting");
  return Value(std::move(out));
}

}  // namespace qwen3::jinja
