// Filters batch, slice, groupby and truncate; str.format; Python's full Unicode case mapping.
// Expected strings are Python Jinja2 3.1's (ImmutableSandboxedEnvironment, as transformers).
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace qwen3::jinja::testing {
namespace {

std::string render(const std::string& source, const ordered_json& vars = ordered_json::object()) {
  return render_with(source, {}, vars);
}

std::string error_of(const std::string& source, const ordered_json& vars = ordered_json::object()) {
  return error_with(source, {}, vars);
}

TEST(TemplateFilters, Batch) {
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3, 4, 5]|batch(2, \"x\")|list }} {{ []|batch(3)|list }}"),
            "[[1, 2], [3, 4], [5]] [[1, 2], [3, 4], [5, 'x']] []");
  EXPECT_EQ(render("{% for row in \"abcdefg\"|batch(3, \"-\") %}{{ row|join }};{% endfor %}"), "abc;def;g--;");
  EXPECT_EQ(error_of("{{ [1]|batch('a', 0)|list }}"), "template:1:21: 'str' object cannot be interpreted as an integer");
}

TEST(TemplateFilters, Slice) {
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5]|slice(3)|list }} {{ [1, 2, 3, 4]|slice(3, 0)|list }} {{ [1, 2]|slice(4)|list }}"),
            "[[1, 2], [3, 4], [5]] [[1, 2], [3, 0], [4, 0]] [[1], [2], [], []]");
  EXPECT_EQ(error_of("{{ [1]|slice(0)|list }}"), "template:1:16: integer division or modulo by zero");
}

TEST(TemplateFilters, Groupby) {
  const ordered_json xs = ordered_json::parse(R"([{"a": "X", "v": 1}, {"a": "x", "v": 2}, {"v": 3}, {"a": "b", "v": 4}])");
  // Case-insensitive by default; the grouper is the first member's own value; `default` fills in.
  EXPECT_EQ(render("{% for g in xs|groupby(\"a\", default=\"z\") %}{{ g.grouper }}={{ g.list|map(attribute=\"v\")|list }};"
                   "{% endfor %}",
                   {{"xs", xs}}),
            "b=[4];X=[1, 2];z=[3];");
  const ordered_json ys = ordered_json::parse(R"([{"a": "X", "v": 1}, {"a": "x", "v": 2}, {"a": "X", "v": 3}])");
  EXPECT_EQ(render("{% for k, items in xs|groupby(\"a\", case_sensitive=true) %}{{ k }}:{{ items|length }};{% endfor %}",
                   {{"xs", ys}}),
            "X:2;x:1;");
  const ordered_json zs = ordered_json::parse(R"([{"p": {"q": 2}}, {"p": {"q": 1}}])");
  EXPECT_EQ(render("{{ xs|groupby(\"p.q\") }}", {{"xs", zs}}), "[(1, [{'p': {'q': 1}}]), (2, [{'p': {'q': 2}}])]");
}

TEST(TemplateFilters, TruncateWithLeeway) {
  EXPECT_EQ(render("{{ \"foo bar baz qux\"|truncate(9) }}|{{ \"foo bar baz qux\"|truncate(9, true) }}|"
                   "{{ \"foo bar baz\"|truncate(9) }}|{{ \"foo bar baz qux\"|truncate(11, false, \"..\", 0) }}|"
                   "{{ \"abcdefghij\"|truncate(5, leeway=0) }}"),
            "foo...|foo ba...|foo bar baz|foo bar..|ab...");
  EXPECT_EQ(error_of("{{ \"a\"|truncate(1, end=\"...\") }}"), "template:1:7: expected length >= 3, got 1");
  EXPECT_EQ(error_of("{{ \"a\"|truncate(5, leeway=-1) }}"), "template:1:7: expected leeway >= 0, got -1");
}

TEST(TemplateStrFormat, FieldsAndConversions) {
  EXPECT_EQ(render("{{ \"{} {}\".format(1, \"a\") }}|{{ \"{1}{0}\".format(\"a\", \"b\") }}|"
                   "{{ \"{x}-{y!r}\".format(x=1, y=\"q\") }}|{{ \"{{}}{}\".format(2) }}"),
            "1 a|ba|1-'q'|{}2");
  EXPECT_EQ(render("{{ \"{0[0]}-{0[1]}-{1.a}\".format(xs, d) }}", {{"xs", {7, 8}}, {"d", {{"a", "A"}}}}), "7-8-A");
  EXPECT_EQ(render("{{ \"{!s}|{!r}|{}\".format(none, \"x\", [1, \"a\"]) }}"), "None|'x'|[1, 'a']");
}

TEST(TemplateStrFormat, FormatSpecs) {
  EXPECT_EQ(render("{{ \"{:>6}|{:<6}|{:^6}|{:*^7}\".format(\"ab\", \"cd\", \"ef\", \"g\") }}"), "    ab|cd    |  ef  |***g***");
  EXPECT_EQ(render("{{ \"{:.2f}|{:8.3f}|{:+d}|{:05d}|{:,}|{:_}|{:x}|{:#o}|{:e}|{:.1%}|{:g}\".format(3.14159, 2.5, 7, -42, "
                   "1234567, 1000000, 255, 8, 12345.678, 0.256, 0.00001) }}"),
            "3.14|   2.500|+7|-0042|1,234,567|1_000_000|ff|0o10|1.234568e+04|25.6%|1e-05");
  EXPECT_EQ(render("{{ \"{}|{:}|{:.3}|{:10}|{:d}\".format(2.0, 1.5, 1.0, 1.25, true) }}"), "2.0|1.5|1.0|      1.25|1");
  EXPECT_EQ(render("{{ \"{:>4}|{:^5}\".format(\"é\", \"中\") }}"), "   é|  中  ");  // widths count code points
}

TEST(TemplateStrFormat, ErrorsWordedAsPython) {
  EXPECT_EQ(error_of("{{ \"{:d}\".format(\"a\") }}"), "template:1:10: Unknown format code 'd' for object of type 'str'");
  EXPECT_EQ(error_of("{{ \"{:d}\".format(1.5) }}"), "template:1:10: Unknown format code 'd' for object of type 'float'");
  EXPECT_EQ(error_of("{{ \"{0}{}\".format(1, 2) }}"),
            "template:1:11: cannot switch from manual field specification to automatic field numbering");
  EXPECT_EQ(error_of("{{ \"{5}\".format(1) }}"), "template:1:9: Replacement index 5 out of range for positional args tuple");
  EXPECT_EQ(error_of("{{ \"{x}\".format() }}"), "template:1:9: 'x'");
  EXPECT_EQ(error_of("{{ \"{:5}\".format(none) }}"), "template:1:10: unsupported format string passed to NoneType.__format__");
  EXPECT_EQ(error_of("{{ \"{:+}\".format(\"a\") }}"), "template:1:10: Sign not allowed in string format specifier");
  EXPECT_EQ(error_of("{{ \"{\".format() }}"), "template:1:7: Single '{' encountered in format string");
  EXPECT_EQ(error_of("{{ \"}\".format() }}"), "template:1:7: Single '}' encountered in format string");
  EXPECT_EQ(error_of("{{ \"{!x}\".format(1) }}"), "template:1:10: Unknown conversion specifier x");
  // Not supported: a clear error rather than a wrong text.
  EXPECT_EQ(error_of("{{ \"{:{w}}\".format(1, w=3) }}"),
            "template:1:12: nested replacement fields in a format spec are not supported");
  EXPECT_EQ(error_of("{{ \"{!a}\".format(1) }}"), "template:1:10: the !a conversion is not supported");
}

TEST(TemplateCaseMapping, FullUnicodeMappingAsPython) {
  EXPECT_EQ(render("{{ \"straße\"|upper }} {{ \"ǆemal\"|capitalize }} {{ \"ǆemal\".title() }} {{ \"ǆemal\"|title }} "
                   "{{ \"ﬁne\"|upper }} {{ \"ﬁne\"|capitalize }}"),
            "STRASSE ǅemal ǅemal Ǆemal FINE Fine");
  EXPECT_EQ(render("{{ \"ΟΔΟΣ ΣΑΣ\"|lower }} {{ \"İ\"|lower|length }} {{ \"Straße\".swapcase() }} {{ \"ÀÉÎ\"|lower }} "
                   "{{ \"àéî\"|upper }} {{ \"ŉ\"|upper }}"),
            "οδος σας 2 sTRASSE àéî ÀÉÎ ʼN");
  EXPECT_EQ(render("{{ \"hello wORLD\"|title }} {{ \"hello wORLD\".title() }} {{ \"hELLO\"|capitalize }} {{ \"aBc\".swapcase() }}"),
            "Hello World Hello World Hello AbC");
}

}  // namespace
}  // namespace qwen3::jinja::testing
