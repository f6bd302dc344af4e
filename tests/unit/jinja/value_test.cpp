// Python semantics of template values: float repr, str()/repr() of containers, json.dumps,
// truthiness, equality and ordering, and the str helpers over UTF-8.
#include <gtest/gtest.h>

#include <cmath>

#include "jinja/text.h"
#include "jinja/value.h"

namespace qwen3::jinja {
namespace {

using nlohmann::ordered_json;

TEST(PythonFloatRepr, MatchesPython) {
  // Expected strings printed by CPython's repr().
  const std::pair<double, const char*> cases[] = {
      {0.1, "0.1"},
      {0.30000000000000004, "0.30000000000000004"},
      {1.0 / 3, "0.3333333333333333"},
      {1e16, "1e+16"},
      {1e15, "1000000000000000.0"},
      {123456789012345678.0, "1.2345678901234568e+17"},
      {1e-4, "0.0001"},
      {1e-5, "1e-05"},
      {1.5e-5, "1.5e-05"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {2.5, "2.5"},
      {100.0, "100.0"},
      {1234.5, "1234.5"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {-1.25e-7, "-1.25e-07"},
      {1e22, "1e+22"},
      {12345678901234567890.0, "1.2345678901234567e+19"},
      {0.000123, "0.000123"},
      {INFINITY, "inf"},
      {-INFINITY, "-inf"},
      {NAN, "nan"},
  };
  for (auto [x, want] : cases) EXPECT_EQ(python_float_repr(x), want) << x;
}

TEST(ValueStr, PythonStrAndRepr) {
  EXPECT_EQ(Value().to_str(), "");
  EXPECT_EQ(Value::none().to_str(), "None");
  EXPECT_EQ(Value(true).to_str(), "True");
  EXPECT_EQ(Value(false).repr(), "False");
  EXPECT_EQ(Value(int64_t{-42}).to_str(), "-42");
  EXPECT_EQ(Value(2.0).to_str(), "2.0");
  EXPECT_EQ(Value("it's").to_str(), "it's");
  EXPECT_EQ(Value("it's").repr(), "\"it's\"");
  EXPECT_EQ(Value("a\"b'c").repr(), "'a\"b\\'c'");
  EXPECT_EQ(Value("tab\tnl\nbs\\").repr(), "'tab\\tnl\\nbs\\\\'");
  EXPECT_EQ(Value("\x01\x7f").repr(), "'\\x01\\x7f'");
  EXPECT_EQ(Value("é中😀").repr(), "'é中😀'");               // printable: as is
  EXPECT_EQ(Value("\u00a0\u200b\u2028").repr(), "'\\xa0\\u200b\\u2028'");  // not printable
  const Value list = Value::list({Value("a"), Value(1), Value::none(), Value(1.5), Value::list()});
  EXPECT_EQ(list.to_str(), "['a', 1, None, 1.5, []]");
  EXPECT_EQ(Value::tuple({Value("a")}).to_str(), "('a',)");
  EXPECT_EQ(Value::tuple({}).to_str(), "()");
  const Value dict = Value::dict({{Value("a"), Value(1)}, {Value(int64_t{2}), Value::list({Value(true)})}});
  EXPECT_EQ(dict.to_str(), "{'a': 1, 2: [True]}");
}

TEST(ValueJson, FromJsonKeepsOrderAndTypes) {
  const ordered_json j = ordered_json::parse(R"({"z": 1, "a": [2.0, "x", null, true, -3, 18446744073709551615], "m": {}})");
  const Value v = Value::from_json(j);
  EXPECT_EQ(v.to_str(), "{'z': 1, 'a': [2.0, 'x', None, True, -3, 1.8446744073709552e+19], 'm': {}}");
}

TEST(ValueJson, DumpsLikePython) {
  const Value v = Value::from_json(ordered_json::parse(R"({"b": [1, 2.5, "é\n\"\\", null], "a": {"t": true}, "e": [], "o": {}})"));
  EXPECT_EQ(json_dumps(v), R"({"b": [1, 2.5, "é\n\"\\", null], "a": {"t": true}, "e": [], "o": {}})");
  JsonDumpOptions ascii;
  ascii.ensure_ascii = true;
  EXPECT_EQ(json_dumps(Value("é😀\x1f"), ascii), R"("\u00e9\ud83d\ude00\u001f")");
  JsonDumpOptions indent;
  indent.indent = "  ";
  indent.item_separator = ",";
  EXPECT_EQ(json_dumps(v, indent),
            "{\n  \"b\": [\n    1,\n    2.5,\n    \"é\\n\\\"\\\\\",\n    null\n  ],\n  \"a\": {\n    \"t\": true\n  },\n"
            "  \"e\": [],\n  \"o\": {}\n}");
  JsonDumpOptions sorted;
  sorted.sort_keys = true;
  EXPECT_EQ(json_dumps(Value::from_json(ordered_json::parse(R"({"b": 1, "a": 2})")), sorted), R"({"a": 2, "b": 1})");
  EXPECT_EQ(json_dumps(Value(NAN)), "NaN");
  EXPECT_EQ(json_dumps(Value(-INFINITY)), "-Infinity");
  EXPECT_EQ(json_dumps(Value::tuple({Value(1)})), "[1]");
  EXPECT_EQ(json_dumps(Value::dict({{Value(int64_t{1}), Value(true)}, {Value::none(), Value(false)}})), R"({"1": true, "null": false})");
  EXPECT_THROW(json_dumps(Value()), EvalError);
  EXPECT_THROW(json_dumps(Value::namespace_()), EvalError);
}

TEST(ValueSemantics, TruthinessEqualityOrder) {
  EXPECT_FALSE(Value().truthy());
  EXPECT_FALSE(Value::none().truthy());
  EXPECT_FALSE(Value("").truthy());
  EXPECT_FALSE(Value(0.0).truthy());
  EXPECT_FALSE(Value::list().truthy());
  EXPECT_FALSE(Value::dict().truthy());
  EXPECT_TRUE(Value("0").truthy());
  EXPECT_TRUE(Value::namespace_().truthy());
  EXPECT_TRUE(Value(1).equals(Value(1.0)));
  EXPECT_TRUE(Value(true).equals(Value(1)));
  EXPECT_FALSE(Value("1").equals(Value(1)));
  EXPECT_FALSE(Value::list({Value(1)}).equals(Value::tuple({Value(1)})));
  EXPECT_TRUE(Value().equals(Value()));
  EXPECT_TRUE(Value(1).less(Value(1.5)));
  EXPECT_TRUE(Value("B").less(Value("a")));
  EXPECT_TRUE(Value("é").less(Value("中")));  // code point order
  EXPECT_TRUE(Value::list({Value(1), Value(2)}).less(Value::list({Value(1), Value(3)})));
  EXPECT_THROW(Value(1).less(Value("a")), EvalError);
  EXPECT_EQ(Value("héllo").length(), 5u);
  EXPECT_EQ(Value().length(), 0u);
  EXPECT_THROW(Value(3).length(), EvalError);
  EXPECT_THROW(Value::none().iterate(), EvalError);
  EXPECT_TRUE(Value().iterate().empty());
}

TEST(Text, SurrogateEscapeRoundTrip) {
  const std::string bad = "a\xff\xc3(\xe2\x82z\xf0\x9f\x98\x80";
  const std::u32string u = text::decode(bad);
  EXPECT_EQ(u.size(), 8u);  // a, FF, C3, (, E2, 82, z, 😀
  EXPECT_EQ(text::encode(u), bad);
}

TEST(Text, PythonStringMethods) {
  using text::split;
  using V = std::vector<std::string>;
  EXPECT_EQ(split("  a b\t\nc  ", std::nullopt, -1), (V{"a", "b", "c"}));
  EXPECT_EQ(split("a b c", std::nullopt, 1), (V{"a", "b c"}));
  EXPECT_EQ(split("a,,b", std::string(","), -1), (V{"a", "", "b"}));
  EXPECT_EQ(split("", std::string(","), -1), (V{""}));
  EXPECT_EQ(split("", std::nullopt, -1), (V{}));
  EXPECT_EQ(text::rsplit("a b c", std::nullopt, 1), (V{"a b", "c"}));
  EXPECT_EQ(text::rsplit("a-b-c", std::string("-"), 1), (V{"a-b", "c"}));
  EXPECT_EQ(text::strip("\u3000 x \u00a0\n", std::nullopt, true, true), "x");
  EXPECT_EQ(text::strip("xxhixx", std::string("x"), true, false), "hixx");
  EXPECT_EQ(text::strip("\n\nhi\n", std::string("\n"), false, true), "\n\nhi");
  EXPECT_EQ(text::replace("aaa", "a", "b", 2), "bba");
  EXPECT_EQ(text::replace("ab", "", "-", -1), "-a-b-");
  EXPECT_EQ(text::find("héllo", "l"), 2);
  EXPECT_EQ(text::rfind("héllo", "l"), 3);
  EXPECT_EQ(text::count("aaaa", "aa"), 2);
  EXPECT_EQ(text::title("hello wORLD 1st o'neil"), "Hello World 1St O'Neil");
  EXPECT_EQ(text::capitalize("hÉLLO"), "Héllo");
  EXPECT_EQ(text::upper("straße é"), "STRASSE É");  // full case mapping, as Python
  EXPECT_EQ(text::splitlines("a\nb\r\nc\rd\n", false), (V{"a", "b", "c", "d"}));
  EXPECT_EQ(text::splitlines("a\n\nb", true), (V{"a\n", "\n", "b"}));
}

}  // namespace
}  // namespace qwen3::jinja
