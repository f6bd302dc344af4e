// Strings (length, pattern, format), numbers (integer and number bounds as digit grammars) and
// literal values (enum, const).
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "grammar/gbnf_text.h"
#include "grammar/json_schema_internal.h"
#include "grammar/regex.h"

namespace qwen3::grammar::detail {

namespace {

// RFC 3339 and friends, over the (all ASCII) content of the JSON string. Stricter than ajv-formats
// where RFC 3339 is: no space for the 'T', a ':' in the offset, no leap second 60, no "urn:uuid:".
const std::map<std::string, std::string, std::less<>> kFormats = {
    {"date",
     "[0-9]{4} \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | "
     "(\"0\" [469] | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | \"02-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8])) | "
     "([0-9]{2} ([02468] [48] | [13579] [26] | [2468] \"0\") | ([02468] [048] | [13579] [26]) \"00\") \"-02-29\""},
    {"time",
     "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]+)? "
     "([zZ] | [-+] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"},
    {"date-time", "fmt-date [tT] fmt-time"},
    {"uuid", "[0-9a-fA-F]{8} \"-\" ([0-9a-fA-F]{4} \"-\"){3} [0-9a-fA-F]{12}"},
    {"email",
     "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+ (\".\" [a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)* \"@\" "
     "([a-zA-Z0-9] ([a-zA-Z0-9-]* [a-zA-Z0-9])? \".\")+ [a-zA-Z0-9] ([a-zA-Z0-9-]* [a-zA-Z0-9])?"},
    {"ipv4", "fmt-octet (\".\" fmt-octet){3}"},
    {"octet", "\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9]? [0-9]"},
};

// Formats that constrain numbers (ajv-formats' meaning: int32 is a 32-bit integer, int64 any
// integer, float and double anything) or nothing at all (password, binary).
const std::set<std::string, std::less<>> kNumberFormats = {"int32", "int64", "float", "double"};
const std::set<std::string, std::less<>> kAnnotativeFormats = {"password", "binary"};

std::string digits(size_t n) { return n == 0 ? "" : n == 1 ? "[0-9]" : fmt::format("[0-9]{{{}}}", n); }

std::string join_seq(std::initializer_list<std::string> parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!p.empty()) out += (out.empty() ? "" : " ") + p;
  }
  return out.empty() ? "\"\"" : out;
}

std::string digit_class(int lo, int hi) {
  return lo == hi ? fmt::format("\"{}\"", lo) : fmt::format("[{}-{}]", lo, hi);
}

// Digit strings of s.size() that are >= s (ge) or <= s (le).
std::string ge(const std::string& s) {
  if (s.empty()) return "";
  if (s.find_first_not_of('0') == std::string::npos) return digits(s.size());
  const int d = s[0] - '0';
  std::string out = fmt::format("({}", join_seq({fmt::format("\"{}\"", d), ge(s.substr(1))}));
  if (d < 9) out += " | " + join_seq({digit_class(d + 1, 9), digits(s.size() - 1)});
  return out + ")";
}

std::string le(const std::string& s) {
  if (s.empty()) return "";
  if (s.find_first_not_of('9') == std::string::npos) return digits(s.size());
  const int d = s[0] - '0';
  std::string out = fmt::format("({}", join_seq({fmt::format("\"{}\"", d), le(s.substr(1))}));
  if (d > 0) out += " | " + join_seq({digit_class(0, d - 1), digits(s.size() - 1)});
  return out + ")";
}

// Digit strings x with a <= x <= b, both of the same length.
std::string same_length(const std::string& a, const std::string& b) {
  size_t p = 0;
  while (p < a.size() && a[p] == b[p]) ++p;
  const std::string prefix = p ? gbnf_literal(a.substr(0, p)) : "";
  if (p == a.size()) return prefix;
  const int da = a[p] - '0', db = b[p] - '0';
  const std::string ra = a.substr(p + 1), rb = b.substr(p + 1);
  const size_t rest = ra.size();
  if (ra.find_first_not_of('0') == std::string::npos && rb.find_first_not_of('9') == std::string::npos) {
    return join_seq({prefix, digit_class(da, db), digits(rest)});
  }
  std::vector<std::string> alts = {join_seq({fmt::format("\"{}\"", da), ge(ra)})};
  if (db - da > 1) alts.push_back(join_seq({digit_class(da + 1, db - 1), digits(rest)}));
  alts.push_back(join_seq({fmt::format("\"{}\"", db), le(rb)}));
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return join_seq({prefix, out + ")"});
}

// Decimal integers a <= x <= b (b absent: unbounded) with no leading zeros; 0 <= a.
std::string uint_range(uint64_t a, std::optional<uint64_t> b) {
  const std::string sa = std::to_string(a);
  std::vector<std::string> alts;
  const size_t max_len = b ? std::to_string(*b).size() : sa.size();
  for (size_t len = sa.size(); len <= max_len; ++len) {
    const std::string lo = len == sa.size() ? sa : std::string(1, '1').append(len - 1, '0');
    const std::string hi = b && len == max_len ? std::to_string(*b) : std::string(len, '9');
    alts.push_back(same_length(lo, hi));
  }
  if (!b) alts.push_back(fmt::format("[1-9] [0-9]{{{},}}", sa.size()));
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out + ")";
}

constexpr double kMaxBound = 1e15;  // beyond, doubles no longer hold every integer exactly

struct Bounds {
  std::optional<int64_t> lo, hi;  // inclusive bounds on integers; for numbers, see number_range
  bool lo_exclusive = false, hi_exclusive = false;
};

int64_t integral_bound(const Json& v, const std::string& path, bool round_up) {
  if (!v.is_number()) fail("{}: must be a number", path);
  const double d = v.get<double>();
  if (!(std::fabs(d) <= kMaxBound)) fail("{}: bound {} is beyond +-1e15 and not expressible", path, v.dump());
  return static_cast<int64_t>(round_up ? std::ceil(d) : std::floor(d));
}

bool is_integral(const Json& v) { return v.is_number() && std::floor(v.get<double>()) == v.get<double>(); }

Bounds read_bounds(const Json& s, const std::string& path, bool integer) {
  Bounds b;
  for (const char* k : {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}) {
    if (!s.contains(k)) continue;
    const std::string kp = pointer_append(path, k);
    const Json& v = s[k];
    if (v.is_boolean()) fail("{}: the draft-04 boolean form of '{}' is unsupported", kp, k);
    if (!integer && !is_integral(v)) fail("{}: a non-integer bound on a number is not expressible", kp);
    const bool exclusive = k[0] == 'e';
    const bool lower = std::string_view(k).find("inimum") != std::string_view::npos;
    int64_t x = integral_bound(v, kp, lower);
    if (integer && exclusive && is_integral(v)) x += lower ? 1 : -1;
    if (lower && (!b.lo || x > *b.lo || (x == *b.lo && exclusive))) {
      b.lo = x;
      b.lo_exclusive = !integer && exclusive;
    }
    if (!lower && (!b.hi || x < *b.hi || (x == *b.hi && exclusive))) {
      b.hi = x;
      b.hi_exclusive = !integer && exclusive;
    }
  }
  return b;
}

// Integers in [lo, hi] (either side open when absent), as JSON writes them.
std::string int_range(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  std::vector<std::string> alts;
  if (!hi || *hi >= 0) alts.push_back(uint_range(lo && *lo > 0 ? *lo : 0, hi ? std::optional<uint64_t>(*hi) : std::nullopt));
  if (!lo || *lo < 0) {  // -k for k in [max(1, -hi), -lo]
    const uint64_t k_lo = hi && *hi < 0 ? static_cast<uint64_t>(-*hi) : 1;
    alts.push_back("\"-\" " + uint_range(k_lo, lo ? std::optional<uint64_t>(-*lo) : std::nullopt));
  }
  if (alts.size() == 1) return alts[0];
  return "(" + alts[0] + " | " + alts[1] + ")";
}

}  // namespace

// The lengths a format's strings can have (max absent: unbounded), so that minLength/maxLength
// beside a format can be checked to change nothing.
struct LengthRange {
  uint64_t min;
  std::optional<uint64_t> max;
};
const std::map<std::string, LengthRange, std::less<>> kFormatLengths = {
    {"date", {10, 10}}, {"uuid", {36, 36}}, {"ipv4", {7, 15}}, {"time", {9, std::nullopt}},
    {"date-time", {20, std::nullopt}}, {"email", {5, std::nullopt}}};

std::string Converter::string_branch(const Json& s, const std::string& path) {
  uint64_t min = 0;
  std::optional<uint64_t> max;
  if (s.contains("minLength")) min = read_count(s, "minLength", path);
  if (s.contains("maxLength")) max = read_count(s, "maxLength", path);
  if (max && *max < min) fail("{}: maxLength < minLength matches nothing", pointer_append(path, "maxLength"));
  const bool has_len = min > 0 || max;
  const std::string quote = "\"\\\"\"";
  if (s.contains("pattern")) {
    const std::string kpath = pointer_append(path, "pattern");
    if (s.contains("format") && s["format"] != "password" && s["format"] != "binary") fail("{}: 'pattern' together with 'format' is not supported", kpath);
    if (!s["pattern"].is_string()) fail("{}: must be a string", kpath);
    const RegexOptions ro{.max_repeat = options_.max_repeat, .json_escape_rule = "escape"};
    try {
      if (!has_len) return add_rule("pattern", fmt::format("{} {} {}", quote, regex_to_json_content(s["pattern"].get<std::string>(), builtin("char"), ro), quote));
      // ^[set]{a,b}$ with minLength/maxLength is ^[set]{max(a,min),min(b,max)}$; other shapes cannot be intersected.
      const std::optional<CharRun> run = regex_as_char_run(s["pattern"].get<std::string>(), ro);
      if (!run) fail("'pattern' together with minLength/maxLength is supported only for ^[set]{{m,n}}$ patterns");
      const uint64_t lo = std::max(run->min, min);
      const std::optional<uint64_t> hi = !run->max ? max : !max ? run->max : std::optional<uint64_t>(std::min(*run->max, *max));
      if (hi && *hi < lo) fail("the pattern's length and minLength/maxLength leave no string");
      check_repeat(hi ? *hi : lo, pointer_append(path, hi ? "maxLength" : "minLength"));
      const std::string ch = json_char_expr(run->set, builtin("escape"));
      if (ch.empty()) fail("the pattern's set holds no character a JSON string can contain");
      return add_rule("pattern", fmt::format("{} {} {}", quote, repeat(ch, lo, hi), quote));
    } catch (const Error& e) {
      fail("{}: {}", kpath, e.what());
    }
  }
  if (s.contains("format") && s["format"].is_string()) {
    const std::string f = s["format"].get<std::string>();
    if (kFormats.count(f) && f != "octet") {
      if (has_len) {  // allowed only where it changes nothing
        const LengthRange r = kFormatLengths.at(f);
        if (min > r.min || (max && (!r.max || *max < *r.max))) {
          fail("{}: 'format' {} together with minLength/maxLength that bound it is not supported", pointer_append(path, "format"), f);
        }
      }
      const std::string rule = "fmt-" + f;
      if (!bodies_.count(rule)) {
        for (const auto& [dep, body] : kFormats) {
          if (kFormats.at(f).find("fmt-" + dep) != std::string::npos && !bodies_.count("fmt-" + dep)) add_rule("fmt-" + dep, body);
        }
        add_rule(rule, kFormats.at(f));
      }
      return fmt::format("{} {} {}", quote, rule, quote);
    }
  }
  if (!has_len) return builtin("string");
  check_repeat(max ? *max : min, pointer_append(path, max ? "maxLength" : "minLength"));
  return fmt::format("{} {} {}", quote, repeat(builtin("char"), min, max), quote);
}

void check_format(const Json& s, const std::string& path, UnknownFormat unknown) {
  if (!s.contains("format")) return;
  const std::string kpath = pointer_append(path, "format");
  if (!s["format"].is_string()) fail("{}: must be a string", kpath);
  const std::string f = s["format"].get<std::string>();
  if ((kFormats.count(f) && f != "octet") || kNumberFormats.count(f) || kAnnotativeFormats.count(f)) return;
  if (unknown == UnknownFormat::Error) {
    fail("{}: unsupported format '{}' (supported: date, time, date-time, uuid, email, ipv4; int32, int64, float, "
         "double; password, binary)", kpath, f);
  }
}

std::string Converter::number_branch(const Json& s, const std::string& path, bool integer) {
  const std::string format = s.contains("format") && s["format"].is_string() ? s["format"].get<std::string>() : "";
  const bool int32 = format == "int32";
  integer = integer || int32 || format == "int64";
  if (!int32 && !s.contains("minimum") && !s.contains("maximum") && !s.contains("exclusiveMinimum") && !s.contains("exclusiveMaximum")) {
    return builtin(integer ? "integer" : "number");
  }
  Bounds b = read_bounds(s, path, integer);
  if (int32) {
    constexpr int64_t kMin = -(int64_t{1} << 31), kMax = (int64_t{1} << 31) - 1;
    b.lo = std::max(b.lo.value_or(kMin), kMin);
    b.hi = std::min(b.hi.value_or(kMax), kMax);
  }
  if (integer) {
    if (b.lo && b.hi && *b.lo > *b.hi) fail("{}: the bounds leave no integer", path.empty() ? "/" : path);
    return add_rule("integer-range", int_range(b.lo, b.hi));
  }
  // x = i + f. Integral values: the integers within the bounds, optionally written with ".0".
  // Fractional values (f > 0) lie strictly between two integers, so with integer bounds lo, hi:
  // i >= lo and i + 1 <= hi for x >= 0, and -(i + 1) >= lo and -i <= hi for x = -(i + f) < 0.
  const std::optional<int64_t> ilo = b.lo ? std::optional<int64_t>(*b.lo + (b.lo_exclusive ? 1 : 0)) : std::nullopt;
  const std::optional<int64_t> ihi = b.hi ? std::optional<int64_t>(*b.hi - (b.hi_exclusive ? 1 : 0)) : std::nullopt;
  std::vector<std::string> alts;
  if (!(ilo && ihi && *ilo > *ihi)) alts.push_back(int_range(ilo, ihi) + " (\".\" \"0\"+)?");
  const std::string frac = "\".\" [0-9]* [1-9]";
  const int64_t pos_lo = b.lo ? std::max<int64_t>(*b.lo, 0) : 0;
  if (!b.hi || *b.hi - 1 >= pos_lo) {
    alts.push_back(uint_range(pos_lo, b.hi ? std::optional<uint64_t>(*b.hi - 1) : std::nullopt) + " " + frac);
  }
  const int64_t neg_lo = b.hi ? std::max<int64_t>(-*b.hi, 0) : 0;
  if (!b.lo || -*b.lo - 1 >= neg_lo) {
    alts.push_back("\"-\" " + uint_range(neg_lo, b.lo ? std::optional<uint64_t>(-*b.lo - 1) : std::nullopt) + " " + frac);
  }
  if (alts.empty()) fail("{}: the bounds leave no number", path.empty() ? "/" : path);
  return add_rule("number-range", alternatives(alts));
}

std::string Converter::literal(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string: return gbnf_literal(fmt::format("\"{}\"", json_string_content(v.get<std::string>())));
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return gbnf_literal(std::to_string(static_cast<int64_t>(d)));
      return gbnf_literal(v.dump());
    }
    case Json::value_t::array: {
      std::string out = punct("[");
      for (size_t i = 0; i < v.size(); ++i) out += fmt::format(" {}{}", i ? punct(",") + " " : "", literal(v[i]));
      return "(" + out + " " + punct("]") + ")";
    }
    case Json::value_t::object: {
      std::string out = punct("{");
      bool first = true;
      for (const auto& [k, x] : v.items()) {
        out += fmt::format(" {}{} {} {}", first ? "" : punct(",") + " ", literal(Json(k)), punct(":"), literal(x));
        first = false;
      }
      return "(" + out + " " + punct("}") + ")";
    }
    default: return gbnf_literal(v.dump());
  }
}

}  // namespace qwen3::grammar::detail
