// Hostile templates and inputs: integer edge cases that are undefined behaviour in C++ (Python's
// ints never overflow; where a result does not fit int64 we raise instead), self-referencing and
// deeply nested values, and the render limits (loop iterations, range, sizes, recursion, memory).
// Every case must end in a TemplateError (the server's 400), never a signal or a runaway render.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "jinja/template_ast.h"
#include "jinja/template_error.h"
#include "jinja/template_render.h"

namespace qwen3 {
namespace {

using nlohmann::ordered_json;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

std::string render(const std::string& source, const ordered_json& vars = ordered_json::object()) {
  return jinja::render_template(*jinja::parse_template(source, "template"), vars);
}

// The message of the error a template raises at render time ("" and a test failure if none).
std::string error_of(const std::string& source, const ordered_json& vars = ordered_json::object()) {
  try {
    const std::string out = render(source, vars);
    ADD_FAILURE() << "no error; rendered " << out.substr(0, 200);
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(source, vars, needle)                                   \
  do {                                                                       \
    const std::string message_ = error_of(source, vars);                     \
    EXPECT_NE(message_.find(needle), std::string::npos) << message_;         \
  } while (0)

// --- integers ---

TEST(TemplateIntegers, FloorDivAndModOfInt64MinByMinusOne) {
  const ordered_json vars = {{"page", kMin}, {"per_page", -1}};
  EXPECT_ERROR("{{ page // per_page }}", vars, "integer overflow");
  EXPECT_EQ(render("{{ page % per_page }}", vars), "0");  // Python: -2**63 % -1 == 0
  EXPECT_EQ(render("{{ page // 1 }} {{ page % 7 }} {{ page // -2 }}", vars), "-9223372036854775808 6 4611686018427387904");
  EXPECT_ERROR("{{ page * per_page }}", vars, "integer overflow");
  EXPECT_ERROR("{{ -page }}", vars, "integer overflow");
}

TEST(TemplateIntegers, AbsOfInt64Min) {
  EXPECT_ERROR("{{ n | abs }}", ordered_json({{"n", kMin}}), "integer overflow");
  EXPECT_EQ(render("{{ n | abs }}", {{"n", kMin + 1}}), "9223372036854775807");
}

TEST(TemplateIntegers, IntFilterRaisesWhereThePythonIntDoesNotFit) {
  EXPECT_ERROR("{{ '99999999999999999999999' | int }}", ordered_json::object(), "integer overflow");
  EXPECT_ERROR("{{ '-9223372036854775809' | int }}", ordered_json::object(), "integer overflow");
  EXPECT_ERROR("{{ '1e30' | int }}", ordered_json::object(), "integer overflow");
  EXPECT_ERROR("{{ 1e300 | int }}", ordered_json::object(), "integer overflow");
  EXPECT_ERROR("{{ 9.3e18 | int }}", ordered_json::object(), "integer overflow");
  EXPECT_ERROR("{{ 'inf' | float | int }}", ordered_json::object(), "cannot convert float infinity to integer");
  EXPECT_ERROR("{{ '-inf' | int }}", ordered_json::object(), "cannot convert float infinity to integer");
  // Python's ValueErrors give the default.
  EXPECT_EQ(render("{{ 'nan' | float | int }} {{ 'nan' | int(7) }} {{ 'abc' | int }} {{ '12' | int(base=99) }}"), "0 7 0 12");
  EXPECT_EQ(render("{{ '-9223372036854775808' | int }} {{ '9223372036854775807' | int }} {{ '-4.7' | int }} {{ '0x1F' | int(base=16) }}"),
            "-9223372036854775808 9223372036854775807 -4 31");
  EXPECT_EQ(render("{{ -9.2e18 | int }}"), "-9200000000000000000");
}

TEST(TemplateIntegers, PercentFormatWidthsAndConversions) {
  EXPECT_ERROR("{{ '%1000000000d' % 1 }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR("{{ '%99999999999999999999d' % 1 }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR("{{ '%.1000000000f' % 1.5 }}", ordered_json::object(), "exceeds the render limit");
  // Widths past the old 512-byte buffer are honoured, as in Python.
  EXPECT_EQ(render("{{ '%600d' % 1 }}"), std::string(599, ' ') + "1");
  EXPECT_EQ(render("{{ '%-700s|' % 'x' }}"), "x" + std::string(699, ' ') + "|");
  // %s width and precision count code points.
  EXPECT_EQ(render("{{ '%-4s|%.2s|%3s' % ('é', 'abcdef', 'ü') }}"), "é   |ab|  ü");
  EXPECT_EQ(render("{{ '%.3s' % ('x' * 1000) }}"), "xxx");
  EXPECT_ERROR("{{ '%d' % 1e300 }}", ordered_json::object(), "integer overflow");
  EXPECT_ERROR("{{ '%d' % ('nan' | float) }}", ordered_json::object(), "cannot convert float NaN to integer");
  EXPECT_ERROR("{{ '%x' % ('inf' | float) }}", ordered_json::object(), "cannot convert float infinity to integer");
  EXPECT_ERROR("{{ '%c' % 1114112 }}", ordered_json::object(), "%c arg not in range(0x110000)");
  EXPECT_ERROR("{{ '%c' % -1 }}", ordered_json::object(), "%c arg not in range(0x110000)");
  EXPECT_EQ(render("{{ '%d|%i|%c' % (2.9, -2.9, 233) }}"), "2|-2|é");
  EXPECT_EQ(render("{{ '%x|%X|%o|%5x|%-5x|%05x|%#x' % (-255, 255, -8, -255, -255, -255, -255) }}"),
            "-ff|FF|-10|  -ff|-ff  |-00ff|-0xff");
  EXPECT_EQ(render("{{ '%d' % n }}", {{"n", kMin}}), "-9223372036854775808");
}

TEST(TemplateIntegers, RangeWithExtremeArguments) {
  const ordered_json vars = {{"lo", kMin}, {"hi", kMax}};
  EXPECT_EQ(render("{{ range(hi - 1, hi, 10) | list }} {{ range(lo + 1, lo, -7) | list }}", vars),
            "[9223372036854775806] [-9223372036854775807]");
  EXPECT_EQ(render("{{ range(hi - 20, hi, 7) | list }}", vars),
            "[9223372036854775787, 9223372036854775794, 9223372036854775801]");
  EXPECT_ERROR("{{ range(lo, hi) | list }}", vars, "Range too big");
  EXPECT_ERROR("{{ range(0, hi, 1) | length }}", vars, "Range too big");
  EXPECT_EQ(render("{{ range(0, hi, hi) | list }} {{ range(hi, lo, lo) | list }}", vars), "[0] [9223372036854775807, -1]");
}

TEST(TemplateIntegers, SlicesWithExtremeSteps) {
  const ordered_json vars = {{"lo", kMin}, {"hi", kMax}, {"l", {1, 2, 3}}};
  EXPECT_EQ(render("{{ 'abc'[1::hi] }}|{{ 'abc'[::lo] }}|{{ l[::lo] }}|{{ l[2::hi] }}|{{ l[lo:hi] }}|{{ l[hi:lo:-1] }}", vars),
            "b|c|[3]|[3]|[1, 2, 3]|[3, 2, 1]");
  EXPECT_EQ(render("{{ l[lo] is defined }}{{ 'abc'[lo] is defined }}", vars), "FalseFalse");
}

TEST(TemplateIntegers, RoundWithExtremePrecision) {
  const ordered_json vars = {{"lo", kMin}, {"hi", kMax}};
  EXPECT_EQ(render("{{ 123.0 | round(-400) }} {{ -123.0 | round(lo) }} {{ 1.5 | round(hi) }} {{ 7 | round(lo) }}", vars),
            "0.0 -0.0 1.5 0");
  // round(int, -n) rounds to a multiple of 10**n, half to even, and stays an int.
  EXPECT_EQ(render("{{ 25 | round(-1) }} {{ 35 | round(-1) }} {{ -25 | round(-1) }} {{ 7 | round(3) }} {{ hi | round(-18) }}", vars),
            "20 40 -20 7 9000000000000000000");
  EXPECT_ERROR("{{ hi | round(-1) }}", vars, "integer overflow");
  EXPECT_ERROR("{{ 1.5 | round(400, 'ceil') }}", vars, "cannot convert float infinity to integer");
  EXPECT_ERROR("{{ 1e300 | round(10, 'floor') }}", vars, "cannot convert float infinity to integer");
  EXPECT_ERROR("{{ 2.5 | round(-1000, 'floor') }}", vars, "division by zero");  // 0 / 10.0**-1000, as in Python
}

TEST(TemplateIntegers, RepetitionCounts) {
  // Empty sequences repeat in no time however large the count.
  EXPECT_EQ(render("[{{ '' * 2**62 }}][{{ [] * 2**62 }}][{{ () * 2**62 }}]"), "[][[]][()]");
  // 4 * 2**62 wraps size_t to 0: the size check must not be fooled.
  EXPECT_ERROR("{{ 'abcd' * 2**62 }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR("{{ [1, 2, 3, 4] * 2**62 }}", ordered_json::object(), "exceeds the render limit");
}

TEST(TemplateIntegers, NumericAttributePathsOutOfRange) {
  // Jinja's attribute paths ("a.0") read numeric parts as ints; a huge one used to escape as
  // std::out_of_range.
  EXPECT_EQ(render("{{ l | map(attribute='99999999999999999999999') | list }}", {{"l", {{1}}}}), "[Undefined]");
}

// --- self-reference and deep nesting ---

TEST(TemplateCycles, SelfReferencingValuesPrintLikePython) {
  EXPECT_EQ(render("{% set l = [] %}{% set _ = l.append(l) %}{{ l }}|{{ l | string }}|{{ [l, 1] }}"), "[[...]]|[[...]]|[[[...]], 1]");
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"), "<Namespace {'me': <Namespace {...}>}>");
  EXPECT_EQ(render("{% set d = {'l': []} %}{% set _ = d.l.append(d) %}{{ d }}"), "{'l': [{...}]}");
}

TEST(TemplateCycles, TojsonOfACycleFails) {
  EXPECT_ERROR("{% set l = [] %}{% set _ = l.append(l) %}{{ l | tojson }}", ordered_json::object(), "Circular reference detected");
  EXPECT_ERROR("{% set d = {'l': []} %}{% set _ = d.l.append(d) %}{{ d | tojson(indent=2) }}", ordered_json::object(),
               "Circular reference detected");
  // The same list twice is not a cycle.
  EXPECT_EQ(render("{% set a = [1] %}{{ [a, a] | tojson }}"), "[[1], [1]]");
}

TEST(TemplateCycles, ComparingCyclesFails) {
  const std::string two = "{% set l = [] %}{% set _ = l.append(l) %}{% set m = [] %}{% set _ = m.append(m) %}";
  EXPECT_EQ(render(two + "{{ l == l }}{{ l in [l] }}{{ [l] == [l] }}"), "TrueTrueTrue");  // identity, as in Python
  EXPECT_ERROR(two + "{{ l == m }}", ordered_json::object(), "maximum recursion depth exceeded in comparison");
  EXPECT_ERROR(two + "{{ l in [m] }}", ordered_json::object(), "maximum recursion depth exceeded in comparison");
  EXPECT_ERROR(two + "{{ l < m }}", ordered_json::object(), "maximum recursion depth exceeded in comparison");
  EXPECT_ERROR(two + "{{ [l, m] | sort }}", ordered_json::object(), "maximum recursion depth exceeded in comparison");
  EXPECT_ERROR(two + "{{ [l, m] | unique | list }}", ordered_json::object(), "maximum recursion depth exceeded in comparison");
  EXPECT_ERROR(two + "{{ {'k': l} == {'k': m} }}", ordered_json::object(), "maximum recursion depth exceeded in comparison");
}

TEST(TemplateCycles, DeepAcyclicNestingFailsAndIsFreedWithoutRecursion) {
  // 100,000 levels built two ways: by wrapping, and by appending to the innermost list.
  const std::string wrapped = "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}";
  const std::string appended =
      "{% set root = [] %}{% set ns = namespace(cur=root) %}{% for i in range(100000) %}{% set next = [] %}"
      "{% set _ = ns.cur.append(next) %}{% set ns.cur = next %}{% endfor %}{% set ns.l = root %}";
  for (const std::string& build : {wrapped, appended}) {
    EXPECT_ERROR(build + "{{ ns.l | tojson }}", ordered_json::object(), "maximum recursion depth exceeded while encoding a JSON object");
    EXPECT_ERROR(build + "{{ ns.l }}", ordered_json::object(), "maximum recursion depth exceeded while getting the repr of an object");
    EXPECT_ERROR(build + "{{ ns.l == [ns.l] }}", ordered_json::object(), "maximum recursion depth exceeded in comparison");
    EXPECT_EQ(render(build + "{{ ns.l | length }}"), "1");  // building and freeing it is fine
  }
}

TEST(TemplateCycles, DeepInputJsonFails) {
  ordered_json deep = ordered_json::array();
  for (int i = 0; i < 100000; ++i) deep = ordered_json::array({std::move(deep)});
  EXPECT_ERROR("{{ x | length }}", ordered_json({{"x", std::move(deep)}}), "nested more than");
}

TEST(TemplateCycles, GeneratorChainsAreBounded) {
  EXPECT_ERROR("{% set ns = namespace(g=[1]) %}{% for i in range(100000) %}{% set ns.g = ns.g | select %}{% endfor %}{{ ns.g | list }}",
               ordered_json::object(), "maximum recursion depth exceeded");
}

// --- render limits ---

TEST(TemplateLimits, RangeIsCappedAsInJinja2Sandbox) {
  EXPECT_EQ(render("{{ range(100000) | length }}"), "100000");
  EXPECT_ERROR("{% for i in range(2**24 - 1) %}{% endfor %}", ordered_json::object(),
               "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
}

TEST(TemplateLimits, LoopIterationsPerRender) {
  EXPECT_ERROR("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", ordered_json::object(),
               "loop iterations exceed the render limit of 1000000");
  // A loop's `if` runs once per item, and counts.
  EXPECT_ERROR("{% for i in range(100000) %}{% for j in range(100000) if false %}{% endfor %}{% endfor %}",
               ordered_json::object(), "loop iterations exceed the render limit of 1000000");
}

TEST(TemplateLimits, StringSize) {
  EXPECT_ERROR("{% set x = 'a' * 2**28 %}", ordered_json::object(), "string of 268435456 bytes exceeds the render limit of 33554432 bytes");
  EXPECT_ERROR("{{ 'x' | center(10**9) }}", ordered_json::object(), "exceeds the render limit of 33554432 bytes");
  EXPECT_ERROR("{{ 'a\\nb' | indent(10**9) }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR("{{ [[1]] | tojson(indent=10**9) }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR("{{ ('a' * 100000).replace('a', 'b' * 100000) }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR("{{ ('a' * 100000) | replace('', 'b' * 1000) }}", ordered_json::object(), "exceeds the render limit");
  const std::string big = "{% set s = 'a' * 2**20 %}{% set l = [s] * 100000 %}";
  EXPECT_ERROR(big + "{{ l | join }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR(big + "{{ ''.join(l) }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR(big + "{{ l | tojson }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR(big + "{{ l | string }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR(big + "{{ ('%s' * 100) % ((s,) * 100) }}", ordered_json::object(), "exceeds the render limit");
  EXPECT_ERROR("{% set ns = namespace(s='x' * 2**20) %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
               ordered_json::object(), "exceeds the render limit of 33554432 bytes");
}

TEST(TemplateLimits, ListSize) {
  EXPECT_ERROR("{% set l = [0] * 10**8 %}", ordered_json::object(), "list of 100000000 items exceeds the render limit of 1000000 items");
  EXPECT_ERROR("{% for c in 'a' * 2**24 %}{% endfor %}", ordered_json::object(), "exceeds the render limit of 1000000 items");
  std::string appends = "{% set l = [] %}{% for i in range(100000) %}";
  for (int k = 0; k < 11; ++k) appends += "{% set _ = l.append(i) %}";
  EXPECT_ERROR(appends + "{% endfor %}", ordered_json::object(), "list of 1000001 items exceeds the render limit of 1000000 items");
}

TEST(TemplateLimits, OutputSize) {
  EXPECT_ERROR("{% set s = 'a' * 1000 %}{% for i in range(100000) %}{{ s }}{% endfor %}", ordered_json::object(),
               "template output exceeds the render limit of 33554432 bytes");
}

TEST(TemplateLimits, MemoryPerRender) {
  // Each string fits the size limit; together they pass the bytes one render may build.
  EXPECT_ERROR("{% for i in range(1000) %}{% set x = 'a' * 2**24 %}{% endfor %}", ordered_json::object(),
               "values built by the template exceed the render limit of 268435456 bytes");
}

TEST(TemplateLimits, ScannedBytes) {
  // Each `in` reads the 16 MiB string: 100,000 of them would read 1.6 TB.
  EXPECT_ERROR("{% set s = 'a' * 2**24 %}{% for i in range(100000) %}{% if 'b' in s %}{% endif %}{% endfor %}",
               ordered_json::object(), "string operations read more than the render limit of 1073741824 bytes");
  EXPECT_ERROR("{% set s = 'a' * 2**24 %}{% for i in range(100000) %}{{ s[i] }}{% endfor %}", ordered_json::object(),
               "string operations read more than the render limit");
}

TEST(TemplateLimits, ComparisonSteps) {
  // unique and dict() compare every pair: quadratic.
  EXPECT_ERROR("{{ range(100000) | unique | list | length }}", ordered_json::object(), "comparisons exceed the render limit of 10000000");
}

TEST(TemplateLimits, MacroRecursion) {
  EXPECT_ERROR("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", ordered_json::object(),
               "maximum recursion depth exceeded in macro 'f'");
  EXPECT_ERROR("{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(0) }}", ordered_json::object(),
               "maximum recursion depth exceeded in macro");
}

TEST(TemplateLimits, LoopFramesAreFreedBetweenIterations) {
  // 1,000,000 iterations (the limit) must not keep one scope per iteration alive.
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(1000) %}{% for j in range(999) %}{% set ns.n = ns.n + 1 %}"
                   "{% endfor %}{% endfor %}{{ ns.n }}"),
            "999000");
  // A macro defined in an iteration keeps that iteration's scope.
  EXPECT_EQ(render("{% set ns = namespace(fs=[]) %}{% for i in [1, 2] %}{% set k = i * 10 %}{% macro m() %}{{ k }}{% endmacro %}"
                   "{% set _ = ns.fs.append(m) %}{% endfor %}{% for f in ns.fs %}{{ f() }};{% endfor %}"),
            "10;20;");
}

}  // namespace
}  // namespace qwen3
