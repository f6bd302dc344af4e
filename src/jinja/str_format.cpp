// Python's str.format: "{0:>10} {name!r:.2f}".format(...), as Jinja2's sandbox runs it (attribute
// and item access in a field go through the environment's getattr / getitem).
//
// Supported: auto-numbered, numbered and named fields, `.attr` and `[key]` after the field name,
// conversions !s and !r, and the format spec [[fill]align][sign][#][0][width][,|_][.precision][type]
// for str (s), int (d b o x X c, and e f g % through float) and float (e E f F g G %, none).
// Refused with an error: nested fields inside a spec, !a, the 'n' type (locale-dependent).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "jinja/builtins.h"
#include "jinja/template_limits.h"
#include "jinja/text.h"

namespace qwen3::jinja {
namespace {

struct Spec {
  char32_t fill = ' ';
  char align = 0;  // '<' '>' '=' '^', 0: the type's default
  char sign = 0;   // '+' '-' ' '
  bool alt = false;
  size_t width = 0;
  char grouping = 0;  // ',' '_'
  std::optional<size_t> precision;
  char type = 0;
};

size_t read_number(std::u32string_view s, size_t& i) {
  size_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (n > 100'000'000) eval_fail("Too many decimal digits in format string");
    n = n * 10 + (s[i++] - '0');
  }
  return n;
}

Spec parse_spec(std::u32string_view s) {
  Spec f;
  size_t i = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (s.size() >= 2 && is_align(s[1])) {
    f.fill = s[0];
    f.align = static_cast<char>(s[1]);
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    f.align = static_cast<char>(s[0]);
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) f.sign = static_cast<char>(s[i++]);
  if (i < s.size() && s[i] == '#') {
    f.alt = true;
    ++i;
  }
  if (i < s.size() && s[i] == '0') {  // sign-aware zero padding, unless an alignment is given
    if (f.align == 0) {
      f.fill = '0';
      f.align = '=';
    }
    ++i;
  }
  f.width = read_number(s, i);
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) f.grouping = static_cast<char>(s[i++]);
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i >= s.size() || s[i] < '0' || s[i] > '9') eval_fail("Format specifier missing precision");
    f.precision = read_number(s, i);
  }
  if (i < s.size()) {
    if (s[i] > 0x7f) eval_fail("Invalid format specifier");
    f.type = static_cast<char>(s[i++]);
  }
  if (i < s.size()) eval_fail("Invalid format specifier");
  return f;
}

// Inserts `sep` every three digits of the integer part of `digits` (which holds no sign).
std::string group_digits(const std::string& digits, char sep) {
  size_t int_end = digits.find_first_not_of("0123456789");
  if (int_end == std::string::npos) int_end = digits.size();
  std::string out;
  for (size_t i = 0; i < int_end; ++i) {
    if (i > 0 && (int_end - i) % 3 == 0) out.push_back(sep);
    out.push_back(digits[i]);
  }
  return out + digits.substr(int_end);
}

// Pads `sign` + `body` to the spec's width (code points) with its fill and alignment.
std::string pad(const std::string& sign, const std::string& body, const Spec& f, char default_align) {
  const size_t len = text::length(sign) + text::length(body);
  const char align = f.align ? f.align : default_align;
  budget::check_string(std::max(len, f.width) * 4);
  if (f.width <= len) return sign + body;
  const size_t n = f.width - len;
  std::string fill;
  text::append_utf8(fill, f.fill);
  auto repeat = [&](size_t k) {
    std::string r;
    for (size_t j = 0; j < k; ++j) r += fill;
    return r;
  };
  switch (align) {
    case '<': return sign + body + repeat(n);
    case '^': return repeat(n / 2) + sign + body + repeat(n - n / 2);
    case '=': return sign + repeat(n) + body;
    default: return repeat(n) + sign + body;
  }
}

std::string format_str(const std::string& s, const Spec& f) {
  if (f.type != 0 && f.type != 's') eval_fail("Unknown format code '{}' for object of type 'str'", f.type);
  if (f.sign) eval_fail("Sign not allowed in string format specifier");
  if (f.alt) eval_fail("Alternate form (#) not allowed in string format specifier");
  if (f.grouping) eval_fail("Cannot specify '{}' with 's'.", f.grouping);
  if (f.align == '=') eval_fail("'=' alignment not allowed in string format specifier");
  std::string body = s;
  if (f.precision && *f.precision < text::length(s)) {
    body = text::encode(text::decode(s).substr(0, *f.precision));
  }
  return pad("", body, f, '<');
}

std::string sign_of(bool negative, const Spec& f) {
  return negative ? "-" : f.sign == '+' ? "+" : f.sign == ' ' ? " " : "";
}

std::string format_float(double x, const Spec& f, bool from_int) {
  char type = f.type;
  if (type == 'n') eval_fail("the 'n' format type (locale-dependent) is not supported");
  std::string body;
  const bool negative = std::signbit(x) && !std::isnan(x);
  const double mag = std::fabs(x);
  if (type == 0 && !f.precision) {
    body = from_int ? fmt::format("{}", static_cast<int64_t>(mag)) : python_float_repr(mag);
  } else {
    const bool percent = type == '%';
    const double v = percent ? mag * 100 : mag;
    char conv = type == 0 ? 'g' : percent ? 'f' : type;
    const size_t precision = f.precision.value_or(6);
    if (precision > 1000) eval_fail("precision too big");
    const std::string printf_spec = std::string("%") + (f.alt ? "#" : "") + ".*" + conv;
    const int n = std::snprintf(nullptr, 0, printf_spec.c_str(), static_cast<int>(precision), v);
    budget::check_string(static_cast<size_t>(n));
    body.resize(static_cast<size_t>(n) + 1);
    std::snprintf(body.data(), body.size(), printf_spec.c_str(), static_cast<int>(precision), v);
    body.resize(static_cast<size_t>(n));
    // Python's general format without a type keeps a ".0" where %g would print an integer.
    if (type == 0 && std::isfinite(v) && body.find_first_of(".e") == std::string::npos) body += ".0";
    if (percent) body += '%';
  }
  if (f.grouping) body = group_digits(body, f.grouping);
  return pad(sign_of(negative, f), body, f, '>');
}

std::string format_int(int64_t n, const Spec& f) {
  switch (f.type) {
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case '%': return format_float(static_cast<double>(n), f, false);
    case 0: case 'd': case 'b': case 'o': case 'x': case 'X': case 'c': break;
    case 'n': eval_fail("the 'n' format type (locale-dependent) is not supported");
    default: eval_fail("Unknown format code '{}' for object of type 'int'", f.type);
  }
  if (f.precision) eval_fail("Precision not allowed in integer format specifier");
  if (f.type == 'c') {
    if (f.sign) eval_fail("Sign not allowed with integer format specifier 'c'");
    if (n < 0 || n > 0x10ffff) eval_fail("%c arg not in range(0x110000)");
    std::string c;
    text::append_utf8(c, static_cast<char32_t>(n));
    return pad("", c, f, '<');
  }
  const unsigned base = f.type == 'b' ? 2 : f.type == 'o' ? 8 : (f.type == 'x' || f.type == 'X') ? 16 : 10;
  const char* digit_chars = f.type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  uint64_t mag = n < 0 ? uint64_t{0} - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  std::string digits;
  do {
    digits.insert(digits.begin(), digit_chars[mag % base]);
    mag /= base;
  } while (mag != 0);
  if (f.grouping) {
    if (base != 10 && f.grouping == ',') eval_fail("Cannot specify ',' with '{}'.", f.type);
    std::string grouped;
    const size_t every = base == 10 ? 3 : 4;
    for (size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % every == 0) grouped.push_back(f.grouping);
      grouped.push_back(digits[i]);
    }
    digits = std::move(grouped);
  }
  std::string prefix = sign_of(n < 0, f);
  if (f.alt && base != 10) prefix += base == 2 ? "0b" : base == 8 ? "0o" : f.type == 'X' ? "0X" : "0x";
  return pad(prefix, digits, f, '>');
}

// format(value, spec) as Python's __format__ of the value's type.
std::string format_value(const Value& v, std::u32string_view spec_text) {
  if (spec_text.empty()) return v.to_str();
  const Spec f = parse_spec(spec_text);
  if (v.is_string()) return format_str(v.str(), f);
  if (v.is_float()) {
    if (f.type != 0 && std::string_view("eEfFgGn%").find(f.type) == std::string_view::npos) {
      eval_fail("Unknown format code '{}' for object of type 'float'", f.type);
    }
    return format_float(v.as_float(), f, false);
  }
  if (v.is_int() || v.is_bool()) return format_int(v.to_int(), f);
  if (v.is_undefined()) return format_str("", f);
  eval_fail("unsupported format string passed to {}.__format__", v.type_name());
}

// Which fields a format string has numbered so far: Python refuses to mix {} with {0}.
struct Numbering {
  enum Kind { Unknown, Auto, Manual } kind = Unknown;
  size_t next_auto = 0;
};

// The value a field names: an argument ("", a number or a keyword) then `.attr` / `[key]` parts.
Value resolve_field(const std::u32string& field, const CallArgs& args, Numbering& numbering) {
  size_t p = 0;
  while (p < field.size() && field[p] != '.' && field[p] != '[') ++p;
  const std::string first = text::encode(field.substr(0, p));
  Value v;
  if (first.empty() || std::all_of(first.begin(), first.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    size_t index = 0;
    if (first.empty()) {
      if (numbering.kind == Numbering::Manual) eval_fail("cannot switch from manual field specification to automatic field numbering");
      numbering.kind = Numbering::Auto;
      index = numbering.next_auto++;
    } else {
      if (numbering.kind == Numbering::Auto) eval_fail("cannot switch from automatic field numbering to manual field specification");
      numbering.kind = Numbering::Manual;
      if (first.size() > 9) eval_fail("Too many decimal digits in format string");
      index = std::stoul(first);
    }
    if (index >= args.positional.size()) eval_fail("Replacement index {} out of range for positional args tuple", index);
    v = args.positional[index];
  } else {
    const auto it = std::find_if(args.keyword.begin(), args.keyword.end(), [&](const auto& kv) { return kv.first == first; });
    if (it == args.keyword.end()) eval_fail("'{}'", first);
    v = it->second;
  }
  while (p < field.size()) {
    if (field[p] == '.') {
      size_t q = ++p;
      while (q < field.size() && field[q] != '.' && field[q] != '[') ++q;
      if (q == p) eval_fail("Empty attribute in format string");
      v = get_attr(v, text::encode(field.substr(p, q - p)));
      p = q;
    } else {  // '['
      const size_t close = field.find(']', p);
      if (close == std::u32string::npos) eval_fail("Missing ']' in format string");
      const std::string key = text::encode(field.substr(p + 1, close - p - 1));
      if (key.empty()) eval_fail("Empty attribute in format string");
      const bool numeric = key.size() < 19 && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      v = get_item(v, numeric ? Value(static_cast<int64_t>(std::stoll(key))) : Value(key));
      p = close + 1;
      if (p < field.size() && field[p] != '.' && field[p] != '[') eval_fail("Only '.' or '[' may follow ']' in format field specifier");
    }
  }
  return v;
}

}  // namespace

Value str_format(const std::string& fmt_str, const CallArgs& args) {
  const std::u32string s = text::decode(fmt_str);
  budget::scanned(fmt_str.size());
  std::string out;
  Numbering numbering;
  for (size_t i = 0; i < s.size();) {
    const char32_t c = s[i];
    if (c == '}') {
      if (i + 1 < s.size() && s[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      eval_fail("Single '}}' encountered in format string");
    }
    if (c != '{') {
      text::append_utf8(out, c);
      ++i;
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    // A replacement field: {name[.attr|[key]]...[!conv][:spec]}
    size_t j = i + 1;
    while (j < s.size() && s[j] != '}' && s[j] != '!' && s[j] != ':') {
      if (s[j] == '{') eval_fail("unexpected '{{' in field name");
      if (s[j] == '[') {  // a key may hold any character but ']'
        while (j < s.size() && s[j] != ']') ++j;
      }
      if (j < s.size()) ++j;
    }
    if (j >= s.size()) {
      if (i + 1 >= s.size()) eval_fail("Single '{{' encountered in format string");
      eval_fail("expected '}}' before end of string");
    }
    const std::u32string field(s.substr(i + 1, j - i - 1));
    char32_t conversion = 0;
    if (s[j] == '!') {
      if (j + 1 >= s.size()) eval_fail("end of string while looking for conversion specifier");
      conversion = s[j + 1];
      j += 2;
      if (j >= s.size() || (s[j] != ':' && s[j] != '}')) eval_fail("expected ':' after conversion specifier");
    }
    std::u32string spec;
    if (s[j] == ':') {
      size_t k = j + 1;
      while (k < s.size() && s[k] != '}') {
        if (s[k] == '{') eval_fail("nested replacement fields in a format spec are not supported");
        ++k;
      }
      if (k >= s.size()) eval_fail("expected '}}' before end of string");
      spec = s.substr(j + 1, k - j - 1);
      j = k;
    }
    i = j + 1;  // past '}'
    Value v = resolve_field(field, args, numbering);
    if (conversion == 'r') {
      v = Value(v.repr());
    } else if (conversion == 's') {
      v = Value(v.to_str());
    } else if (conversion == 'a') {
      eval_fail("the !a conversion is not supported");
    } else if (conversion != 0) {
      std::string conv;
      text::append_utf8(conv, conversion);
      eval_fail("Unknown conversion specifier {}", conv);
    }
    out += format_value(v, spec);
    budget::check_string(out.size());
  }
  return Value(std::move(out));
}

}  // namespace qwen3::jinja
