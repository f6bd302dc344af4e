// The tags that name other templates (include, import, from ... import, extends / block), through
// the caller's loader; call blocks with caller(); recursive loops. Expected strings are Python
// Jinja2 3.1's (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, a DictLoader);
// tests/chat/constructs.json checks the same constructs against Jinja2 itself.
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace qwen3::jinja::testing {
namespace {

const Templates kTemplates = {
    {"base", "<{% block head %}H{% endblock %}|{% block body %}B{% endblock %}>"},
    {"mid", "{% extends \"base\" %}{% block body %}M[{{ super() }}]{% endblock %}"},
    {"row", "{{ x }};"},
    {"macros", "{% set greeting = \"hi\" %}{% set _hidden = 1 %}{% macro shout(s) %}{{ s|upper }}!{% endmacro %}"
               "{% macro greet(n) %}{{ greeting }} {{ n }}{% endmacro %}"},
    {"ctx", "{% macro show() %}{{ user }}{% endmacro %}"},
    {"setter", "{% set leaked = 1 %}in"},
    {"layout", "{% block content %}{% endblock %}[{% block footer scoped %}{% for i in [1, 2] %}"
               "{% block item scoped %}{{ i }}{% endblock %}{% endfor %}{% endblock %}]"},
    {"bad", "{{ 1 + }}"},
    {"raises", "x\n{{ nope.attr }}"},
    {"req", "{% block must required %}{% endblock %}"},
};

std::string render(const std::string& source, const ordered_json& vars = ordered_json::object()) {
  return render_with(source, kTemplates, vars);
}

std::string error_of(const std::string& source, const ordered_json& vars = ordered_json::object()) {
  return error_with(source, kTemplates, vars);
}

TEST(TemplateInclude, SeesTheIncludersVariablesUnlessWithoutContext) {
  EXPECT_EQ(render("{% include \"row\" %}", {{"x", 1}}), "1;");
  EXPECT_EQ(render("{% for x in [1, 2] %}{% include \"row\" %}{% endfor %}"), "1;2;");  // loop variables too
  EXPECT_EQ(render("{% for x in [1, 2] %}{% include \"row\" without context %}{% endfor %}"), ";;");
  EXPECT_EQ(render("{% include \"setter\" %}{{ leaked is defined }}"), "inFalse");  // its sets stay inside
}

TEST(TemplateInclude, IgnoreMissingAndListsOfNames) {
  EXPECT_EQ(render("{% include \"missing\" ignore missing %}ok"), "ok");
  EXPECT_EQ(render("{% include [\"missing\", \"row\"] %}", {{"x", 7}}), "7;");
  EXPECT_NE(error_of("{% include [\"missing\", \"gone\"] %}").find("none of the templates given were found: missing, gone"),
            std::string::npos);
  EXPECT_EQ(error_of("{% include \"missing\" %}"), "template:1:1: template 'missing' not found");
}

TEST(TemplateLoader, WithoutALoaderTheTagsFailClearly) {
  auto no_loader = [](const std::string& source) {
    try {
      render_template(*parse_template(source, "template"), ordered_json::object());
    } catch (const TemplateError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(no_loader("{% include 'x' %}"), "template:1:1: no loader: cannot include 'x'");
  EXPECT_EQ(no_loader("{% import 'x' as m %}"), "template:1:1: no loader: cannot import 'x'");
  EXPECT_EQ(no_loader("{% from 'x' import y %}"), "template:1:1: no loader: cannot import 'x'");
  EXPECT_EQ(no_loader("{% extends 'x' %}"), "template:1:1: no loader: cannot extend 'x'");
  // Parsing needs no loader: a template that never reaches the tag renders.
  EXPECT_EQ(no_loader("{% if false %}{% include 'x' %}{% endif %}ok"), "no error");
}

TEST(TemplateLoader, ErrorsNameTheLoadedTemplate) {
  EXPECT_EQ(error_of("{% include \"bad\" %}"), "bad:1:8: expected an expression, got end of print statement '}}'");
  EXPECT_EQ(error_of("a\n{% include \"raises\" %}"), "raises:2:8: 'nope' is undefined");
  EXPECT_EQ(error_of("{% include 5 %}"), "template:1:1: template name must be a string, not int");
}

TEST(TemplateLoader, EachNameIsLoadedOncePerRender) {
  int calls = 0;
  RenderOptions options;
  options.loader = [&calls](const std::string& name) -> std::optional<std::string> {
    ++calls;
    if (name == "row") return std::string("{{ x }};");
    return std::nullopt;
  };
  const auto ast = parse_template("{% for x in [1, 2, 3] %}{% include 'row' %}{% endfor %}", "t");
  EXPECT_EQ(render_template(*ast, ordered_json::object(), options), "1;2;3;");
  EXPECT_EQ(calls, 1);
}

TEST(TemplateImport, ExportsTopLevelMacrosAndSets) {
  EXPECT_EQ(render("{% import \"macros\" as m %}{{ m.shout(\"a\") }} {{ m.greet(\"bo\") }} {{ m.greeting }} "
                   "{{ m._hidden is defined }}"),
            "A! hi bo hi False");
  EXPECT_EQ(render("{% from \"macros\" import shout, greet as g %}{{ shout(\"x\") }}{{ g(\"y\") }}"), "X!hi y");
  EXPECT_EQ(render("{% from \"macros\" import nope %}{{ nope is defined }}"), "False");
  EXPECT_EQ(error_of("{% from \"macros\" import nope %}{{ nope.x }}"),
            "template:1:39: the template 'macros' (imported on line 1) does not export the requested name 'nope'");
  EXPECT_EQ(error_of("{% from \"macros\" import _hidden %}"),
            "template:1:25: names starting with an underline can not be imported");
}

TEST(TemplateImport, ContextOnlyWhenAsked) {
  EXPECT_EQ(render("{% from \"ctx\" import show %}[{{ show() }}]", {{"user", "u"}}), "[]");
  EXPECT_EQ(render("{% from \"ctx\" import show with context %}[{{ show() }}]", {{"user", "u"}}), "[u]");
}

TEST(TemplateExtends, BlocksOverrideAndSuperRendersTheParents) {
  EXPECT_EQ(render("{% extends \"base\" %}ignored{% block body %}C{{ super() }}{% endblock %}"), "<H|CB>");
  EXPECT_EQ(render("{% extends \"mid\" %}{% block head %}h{% endblock %}{% block body %}C({{ super() }}){% endblock %}"),
            "<h|C(M[B])>");
  EXPECT_EQ(render("{% set y = 5 %}{% extends \"base\" %}{% block head %}{{ y }}{% endblock %}"), "<5|B>");
  EXPECT_EQ(render("before{% extends \"base\" %}"), "before<H|B>");
  // A scoped block sees the loop around it; a block nested in the parent is overridden too.
  EXPECT_EQ(render("{% extends \"layout\" %}{% block content %}c{% endblock %}{% block item %}<{{ i }}>{% endblock %}"),
            "c[<1><2>]");
  EXPECT_EQ(render("{% block a %}A{% block b %}B{% endblock %}{% endblock %}"), "AB");
}

TEST(TemplateExtends, Errors) {
  EXPECT_EQ(error_of("{% extends \"base\" %}{% extends \"base\" %}"), "template:1:21: extended multiple times");
  EXPECT_EQ(error_of("{% block a %}{% endblock %}{% block a %}{% endblock %}"), "template:1:28: block 'a' defined twice");
  EXPECT_EQ(error_of("{% block a %}{{ super() }}{% endblock %}"), "template:1:17: there is no parent block called 'a'.");
  EXPECT_EQ(error_of("{% extends \"req\" %}"), "req:1:1: Required block 'must' not found");
  EXPECT_EQ(render("{% extends \"req\" %}{% block must %}ok{% endblock %}"), "ok");
}

TEST(TemplateCallBlock, CallerRendersTheBodyWithArguments) {
  EXPECT_EQ(render("{% macro m(a) %}<{{ caller(a, 2) }}>{% endmacro %}{% call(x, y) m(1) %}{{ x + y }}{% endcall %}"), "<3>");
  EXPECT_EQ(render("{% macro list(items) %}{% for i in items %}[{{ caller(i) }}]{% endfor %}{% endmacro %}"
                   "{% call(it) list([1, 2]) %}{{ it * 10 }}{% endcall %}"),
            "[10][20]");
  EXPECT_EQ(render("{% macro m() %}{{ caller() }}{% endmacro %}{% set v = 3 %}{% call m() %}v={{ v }}{% endcall %}"), "v=3");
  EXPECT_EQ(render("{% macro m() %}[{{ caller() if caller is defined else \"none\" }}]{% endmacro %}{{ m() }}"), "[none]");
  EXPECT_EQ(error_of("{% macro m() %}x{% endmacro %}{% call m() %}b{% endcall %}"),
            "template:1:39: macro 'm' was invoked with two values for the special caller argument. This is most likely a bug.");
  EXPECT_EQ(error_of("{% call 5 %}{% endcall %}"), "template:1:9: expected call");
}

TEST(TemplateRecursiveLoop, LoopRendersChildrenOneLevelDeeper) {
  const ordered_json tree = ordered_json::parse(R"([{"n": 1, "c": [{"n": 2, "c": [{"n": 3}]}]}, {"n": 4}])");
  EXPECT_EQ(render("{% for i in tree recursive %}{{ loop.depth }}{{ loop.depth0 }}:{{ i.n }}"
                   "({{ loop(i.c) if i.c else \"\" }}){% endfor %}",
                   {{"tree", tree}}),
            "10:1(21:2(32:3()))10:4()");
  const ordered_json flat = ordered_json::parse(R"([{"n": 1, "c": [{"n": 2}, {"n": 3}]}, {"n": 4}])");
  EXPECT_EQ(render("{% for i in tree recursive %}{{ i.n }}{% if i.c %}<{{ loop(i.c) }}>{% endif %}"
                   "{% if not loop.last %},{% endif %}{% endfor %}",
                   {{"tree", flat}}),
            "1<2,3>,4");
  EXPECT_EQ(render("{% for i in [1, 2] recursive %}{{ loop([]) }}{% else %}E{% endfor %}"), "EE");
  EXPECT_EQ(error_of("{% for i in [1] %}{{ loop([]) }}{% endfor %}"),
            "template:1:22: The loop must have the 'recursive' marker to be called recursively.");
}

}  // namespace
}  // namespace qwen3::jinja::testing
