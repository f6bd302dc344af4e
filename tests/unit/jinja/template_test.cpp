// The template engine: Jinja2 semantics as transformers configures them (trim_blocks,
// lstrip_blocks, Python values) and errors that name line and column.
// Expected strings were checked against Python Jinja2 3.1; tests/chat/ holds 200 more cases.
#include <gtest/gtest.h>

#include "jinja/template_ast.h"
#include "jinja/template_error.h"
#include "jinja/template_render.h"

namespace qwen3 {
namespace {

using nlohmann::ordered_json;

std::string render(const std::string& source, const ordered_json& vars = ordered_json::object()) {
  return jinja::render_template(*jinja::parse_template(source, "template"), vars);
}

// The error a template raises at parse or render time.
TemplateError error_of(const std::string& source, const ordered_json& vars = ordered_json::object()) {
  try {
    const std::string out = render(source, vars);
    ADD_FAILURE() << "no error; rendered " << out;
  } catch (const TemplateError& e) {
    return e;
  }
  return TemplateError("", 0, 0, false);
}

TEST(TemplateWhitespace, TrimBlocksAndLstripBlocks) {
  // The newline after a block tag goes (trim_blocks); indentation before a tag alone on its line
  // goes (lstrip_blocks); variable tags keep both.
  EXPECT_EQ(render("a\n  {% if true %}\n  b\n  {% endif %}\nc"), "a\n  b\nc");
  EXPECT_EQ(render("  {{ 'x' }}\n  y"), "  x\n  y");
  EXPECT_EQ(render("x  {% if true %}y{% endif %}  z"), "x  y  z");  // not alone on its line
  EXPECT_EQ(render("\t {% if true %}a{% endif %}"), "a");            // start of the template
  EXPECT_EQ(render("{{ 'v' }}  {% if true %}e{% endif %}"), "v  e");  // after }} is not a line start
  EXPECT_EQ(render("  {# note #}\nz"), "z");                          // comments too
}

TEST(TemplateWhitespace, Modifiers) {
  EXPECT_EQ(render("a  \n  {%- if true -%}  \n b {%- endif %}"), "ab");
  EXPECT_EQ(render("a  {{- ' x ' -}}  \n b"), "a x b");
  EXPECT_EQ(render("  {%+ if true %}a{% endif +%}\nb"), "  a\nb");  // + keeps both sides
  EXPECT_EQ(render("x {#- c -#}   y"), "xy");
  EXPECT_EQ(render("x {#+ c +#}\ny"), "x \ny");
}

TEST(TemplateWhitespace, SourceNewlines) {
  EXPECT_EQ(render("a\n"), "a");      // keep_trailing_newline=False drops one
  EXPECT_EQ(render("a\n\n"), "a\n");
  EXPECT_EQ(render("a\r\nb\rc"), "a\nb\nc");
  EXPECT_EQ(render("{% if true %}\r\nx{% endif %}"), "x");
}

TEST(TemplateWhitespace, RawBlock) {
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}\n!"), "{{ x }}{% if %}!");
}

TEST(TemplateErrors, SyntaxErrorsNameLineAndColumn) {
  const TemplateError e = error_of("a\n{% if x %}\n  {{ 1 + }}\n{% endif %}");
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 10);
  EXPECT_STREQ(e.what(), "template:3:10: expected an expression, got end of print statement '}}'");
  EXPECT_FALSE(e.raised_by_template());

  EXPECT_STREQ(error_of("{{ 'abc }}").what(), "template:1:4: unexpected end of template: unterminated string");
  EXPECT_STREQ(error_of("x\n  {{ a | nope }}").what(), "template:2:10: no filter named 'nope'");
  EXPECT_STREQ(error_of("{{ a is nope }}").what(), "template:1:9: no test named 'nope'");
  EXPECT_STREQ(error_of("{% frobnicate %}").what(), "template:1:4: unknown tag 'frobnicate'");
  EXPECT_STREQ(error_of("{% endfor %}").what(), "template:1:4: unexpected 'endfor'");
  EXPECT_STREQ(error_of("{% break %}").what(), "template:1:4: 'break' outside of a for loop");
  EXPECT_STREQ(error_of("{{ (1, 2] }}").what(), "template:1:9: unexpected ']', expected ')'");
  EXPECT_STREQ(error_of("{{ a @ b }}").what(), "template:1:6: unexpected char '@'");
  EXPECT_STREQ(error_of("{# open").what(), "template:1:1: missing end of comment tag");
  EXPECT_STREQ(error_of("\n\n{% for m in xs %}\n{{ m }}").what(),
               "template:4:8: unexpected end of template, expected 'else' or 'endfor' to close the 'for' "
               "block at line 3 column 1");
  // Columns count code points, not bytes.
  EXPECT_EQ(error_of("é中 {{ 1 + }}").column(), 11);
  // The name given to parse() prefixes the message.
  try {
    jinja::parse_template("{{", "model/tokenizer_config.json");
    ADD_FAILURE();
  } catch (const TemplateError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("model/tokenizer_config.json:1:1: ", 0), 0u) << e.what();
  }
}

TEST(TemplateErrors, RuntimeErrorsNameLineAndColumn) {
  const ordered_json vars = {{"messages", {{{"role", "user"}}}}};
  TemplateError e = error_of("{% for m in messages %}\n  {{- m.content.startswith('x') }}\n{% endfor %}", vars);
  EXPECT_STREQ(e.what(), "template:2:16: 'dict object' has no attribute 'content'");
  e = error_of("line\n{{ 'a' + 1 }}");
  EXPECT_STREQ(e.what(), "template:2:8: can only concatenate str (not \"int\") to str");
  e = error_of("{{ missing.attr }}");
  EXPECT_STREQ(e.what(), "template:1:11: 'missing' is undefined");
  e = error_of("{{ 1 // 0 }}");
  EXPECT_STREQ(e.what(), "template:1:6: integer division or modulo by zero");
  e = error_of("{% for x in 5 %}{% endfor %}");
  EXPECT_STREQ(e.what(), "template:1:13: 'int' object is not iterable");
  e = error_of("{% set a = 1 %}{% set a.b = 2 %}");
  EXPECT_STREQ(e.what(), "template:1:16: cannot assign attribute on non-namespace object");
}

TEST(TemplateErrors, RaiseException) {
  const TemplateError e = error_of("\n  {{- raise_exception('Roles must alternate') }}");
  EXPECT_TRUE(e.raised_by_template());
  EXPECT_STREQ(e.what(), "template:2:7: Roles must alternate");
  // Messages stay on one line.
  EXPECT_STREQ(error_of("{{ raise_exception('two\nlines') }}").what(), "template:1:4: two\\nlines");
}

TEST(TemplateErrors, DeepNestingIsRefused) {
  EXPECT_EQ(render("{{ " + std::string(60, '(') + "1" + std::string(60, ')') + " }}"), "1");
  const std::string deep = "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  EXPECT_NE(std::string(error_of(deep).what()).find("nested more than 300 levels deep"), std::string::npos);
  std::string chain = "{{ 1";
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  EXPECT_NE(std::string(error_of(chain + " }}").what()).find("nested more than 300 levels deep"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 100000; ++i) ifs += "{% if true %}";
  EXPECT_NE(std::string(error_of(ifs).what()).find("nested more than 300 levels deep"), std::string::npos);
}

TEST(TemplateErrors, RunawayRecursionFails) {
  const TemplateError e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(std::string(e.what()).find("maximum recursion depth exceeded in macro 'f'"), std::string::npos);
}

TEST(TemplateSemantics, Scoping) {
  // A set inside a loop lives for one iteration; namespaces carry state out; if does not scope.
  EXPECT_EQ(render("{% for i in [1, 2] %}{% if loop.first %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}{{ y }}"), "[5][]");
  EXPECT_EQ(render("{% set y = 1 %}{% for i in [1, 2] %}{{ y }}{% set y = i * 10 %}{{ y }},{% endfor %}{{ y }}"), "110,120,1");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "6");
  EXPECT_EQ(render("{% if true %}{% set y = 2 %}{% endif %}{{ y }}"), "2");
  EXPECT_EQ(render("{% macro m() %}{{ y }}{% endmacro %}{% set y = 7 %}{{ m() }}"), "7");
  EXPECT_EQ(render("{% with a = 1 %}{{ a }}{% endwith %}[{{ a }}]"), "1[]");
}

TEST(TemplateSemantics, Loops) {
  EXPECT_EQ(render("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}] {% endfor %}"),
            "1032TrueFalse3[|b] 2121FalseFalse3[a|c] 3210FalseTrue3[b|] ");
  EXPECT_EQ(render("{% for x in range(6) if x is odd %}{{ x }}/{{ loop.length }} {% else %}none{% endfor %}"), "1/3 3/3 5/3 ");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}none{% endfor %}"), "none");
  EXPECT_EQ(render("{% for i in range(9) %}{% if i == 1 %}{% continue %}{% elif i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"), "023");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"b", 1}, {"a", 2}}}}), "b=1;a=2;");
  EXPECT_EQ(render("{% for m in ms[::-1] %}{{ m }}{% endfor %}", {{"ms", {1, 2, 3}}}), "321");
}

TEST(TemplateSemantics, Macros) {
  EXPECT_EQ(render("{% macro g(name, greeting='Hello') -%}\n{{ greeting }}, {{ name }}!\n{%- endmacro %}"
                   "{{ g('A') }} {{ g('B', greeting='Hi') }} {{ g(name='C') }} [{{ g() }}]"),
            "Hello, A! Hi, B! Hello, C! [Hello, !]");
  EXPECT_EQ(render("{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}"), "1(2,){'k': 3}");
  EXPECT_NE(std::string(error_of("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}").what()).find("takes not more than 1"),
            std::string::npos);
}

TEST(TemplateSemantics, UndefinedLikeJinja2) {
  EXPECT_EQ(render("[{{ nothing }}]"), "[]");
  EXPECT_EQ(render("{{ nothing is defined }}{{ nothing is undefined }}{{ nothing | length }}{{ nothing | default('d') }}"),
            "FalseTrue0d");
  EXPECT_EQ(render("[{{ d.missing }}][{{ d['missing'] }}][{{ l[9] }}][{{ n.x }}]",
                   {{"d", ordered_json::object()}, {"l", ordered_json::array()}, {"n", nullptr}}),
            "[][][][]");
  EXPECT_EQ(render("{% for x in nothing %}x{% endfor %}{{ 'a' in nothing }}{{ nothing == nothing }}"), "FalseTrue");
  EXPECT_EQ(render("{{ nothing ~ 'x' }}"), "x");
  // Using it strictly is an error, with Jinja2's message.
  EXPECT_STREQ(error_of("{{ nothing.attr }}").what(), "template:1:11: 'nothing' is undefined");
  EXPECT_STREQ(error_of("{{ d.missing + 1 }}", {{"d", ordered_json::object()}}).what(),
               "template:1:14: 'dict object' has no attribute 'missing'");
  EXPECT_STREQ(error_of("{{ l[3].x }}", {{"l", ordered_json::array()}}).what(),
               "template:1:8: list object has no element 3");
}

TEST(TemplateSemantics, PythonValuesPrint) {
  EXPECT_EQ(render("{{ none }} {{ true }} {{ 1.0 }} {{ 10 / 4 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}"),
            "None True 1.0 2.5 3 -4 2 1024");
  EXPECT_EQ(render("{{ ['a', 1, none, {'k': (1,)}] }}"), "['a', 1, None, {'k': (1,)}]");
  EXPECT_EQ(render("{{ v }}|{{ v | tojson }}", {{"v", {{"b", 1.5}, {"a", "é"}}}}), "{'b': 1.5, 'a': 'é'}|{\"b\": 1.5, \"a\": \"é\"}");
  EXPECT_EQ(render("{{ v | tojson(indent=2) }}", {{"v", {{"a", {1, 2}}}}}), "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ [1] }}"), "a1None[1]");
  EXPECT_EQ(render("{{ 0 or 'y' }}|{{ 'x' and '' }}|{{ 1 if false }}|{{ 'a' if true else 'b' }}"), "y|||a");
}

TEST(TemplateSemantics, StringsAndSlices) {
  EXPECT_EQ(render("{{ s[::-1] }}|{{ s[1:3] }}|{{ s[-1] }}|{{ s | length }}|{{ s.upper() }}|{{ s.title() }}", {{"s", "héllo wörld"}}),
            "dlröw olléh|él|d|11|HÉLLO WÖRLD|Héllo Wörld");
  EXPECT_EQ(render("{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
                   {{"c", "<think>\nhm\n</think>\n\nyes"}}),
            "yes|hm");
  EXPECT_EQ(render("{{ '%s=%d' % ('a', 3) }}|{{ 'x,y'.split(',') }}|{{ ' a b '.split() }}|{{ 'ab'.startswith(('x', 'a')) }}"),
            "a=3|['x', 'y']|['a', 'b']|True");
}

TEST(TemplateSemantics, FiltersAndTests) {
  const ordered_json ms = {{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", "b"}}, {{"role", "user"}, {"content", "c"}}};
  EXPECT_EQ(render("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", {{"ms", ms}}), "a,c");
  EXPECT_EQ(render("{{ ms | rejectattr('role', 'eq', 'user') | list | length }}", {{"ms", ms}}), "1");
  EXPECT_EQ(render("{{ [3, 1, 2] | sort }}{{ ['b', 'A'] | sort }}{{ [1, 2, 2, 1] | unique | list }}{{ {'b': 1, 'a': 2} | dictsort }}"),
            "[1, 2, 3]['A', 'b'][1, 2][('a', 2), ('b', 1)]");
  EXPECT_EQ(render("{{ '  x ' | trim }}|{{ 'a b' | title }}|{{ 'hI' | capitalize }}|{{ 'x' | upper }}|{{ 2.5 | round }}|{{ '4.7' | int }}"),
            "x|A B|Hi|X|2.0|4");
  EXPECT_EQ(render("{{ 'a\\nb' | indent(2) }}|{{ [1, 2] | first }}{{ [1, 2] | last }}|{{ [1, 2] | sum }}|{{ '' | default('d', true) }}"),
            "a\n  b|12|3|d");
  EXPECT_EQ(render("{{ 1 is number }}{{ true is boolean }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is sequence }}"
                   "{{ none is none }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 2 is in [1, 2] }}{{ true is true }}"),
            "TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue");
}

}  // namespace
}  // namespace qwen3
