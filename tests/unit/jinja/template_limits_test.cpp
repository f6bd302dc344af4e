// The render limits (jinja/template_limits.h) as they apply to templates that name other
// templates, call blocks, recursive loops and the filters and str.format that build values: each
// bound is reached and ends in a TemplateError naming it, and what a render used is reported.
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace qwen3::jinja::testing {
namespace {

RenderOptions with_limits(RenderLimits limits, RenderUsage* usage = nullptr) {
  RenderOptions options;
  options.limits = limits;
  options.usage = usage;
  return options;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

TEST(TemplateLimitsDepth, IncludeOfItselfStopsAtTheTemplateDepth) {
  const Templates t = {{"self", "{% include 'self' %}"}, {"a", "a{% include 'b' %}"}, {"b", "b{% include 'c' %}"}, {"c", "c"}};
  const std::string e = error_with("{% include 'self' %}", t);
  EXPECT_TRUE(contains(e, "templates nested more than 32 deep (include, import, extends)")) << e;
  EXPECT_TRUE(contains(e, "self:1:1: ")) << e;
  RenderLimits tight;
  tight.max_template_depth = 4;  // the template itself, a, b, c
  RenderUsage used;
  EXPECT_EQ(render_with("{% include 'a' %}", t, ordered_json::object(), with_limits(tight, &used)), "abc");
  EXPECT_EQ(used.deepest_template, 4);
  tight.max_template_depth = 3;
  EXPECT_TRUE(contains(error_with("{% include 'a' %}", t, ordered_json::object(), with_limits(tight)), "nested more than 3 deep"));
}

TEST(TemplateLimitsDepth, ExtendsCycleAndImportOfItself) {
  const Templates t = {{"loop_a", "{% extends 'loop_b' %}"}, {"loop_b", "{% extends 'loop_a' %}"},
                       {"imp", "{% import 'imp' as m %}"}};
  EXPECT_TRUE(contains(error_with("{% extends 'loop_a' %}", t), "templates nested more than 32 deep"));
  EXPECT_TRUE(contains(error_with("{% import 'imp' as m %}", t), "templates nested more than 32 deep"));
}

TEST(TemplateLimitsDepth, RecursiveLoopDepthCountsAsCalls) {
  // A tree 10 levels deep: loop() nests 10 calls (the innermost with an empty list).
  ordered_json tree = ordered_json::array();
  for (int i = 0; i < 10; ++i) tree = ordered_json::array({{{"c", tree}}});
  const std::string source = "{% for n in tree recursive %}.{{ loop(n.c) }}{% endfor %}";
  RenderLimits tight;
  tight.max_call_depth = 10;
  RenderUsage used;
  EXPECT_EQ(render_with(source, {}, {{"tree", tree}}, with_limits(tight, &used)), "..........");
  EXPECT_EQ(used.deepest_call, 10);
  tight.max_call_depth = 9;
  EXPECT_TRUE(contains(error_with(source, {}, {{"tree", tree}}, with_limits(tight)),
                       "maximum recursion depth exceeded in a recursive loop"));
  // Unbounded recursion ends at the default limit.
  EXPECT_TRUE(contains(error_with("{% for i in [1] recursive %}{{ loop([1]) }}{% endfor %}", {}),
                       "maximum recursion depth exceeded in a recursive loop"));
}

TEST(TemplateLimitsDepth, CallBlocksCountAsCalls) {
  // r -> call block -> m -> caller -> r ...: every macro and caller() call is one level.
  const std::string source =
      "{% macro m(n) %}{{ caller(n) }}{% endmacro %}"
      "{% macro r(n) %}{% call(k) m(n) %}{{ r(k + 1) }}{% endcall %}{% endmacro %}{{ r(0) }}";
  EXPECT_TRUE(contains(error_with(source, {}), "maximum recursion depth exceeded in macro"));
  RenderUsage used;
  RenderLimits tight;
  tight.max_call_depth = 6;
  EXPECT_TRUE(contains(error_with(source, {}, ordered_json::object(), with_limits(tight, &used)), "maximum recursion depth"));
  EXPECT_EQ(used.deepest_call, 6);
}

TEST(TemplateLimitsWork, RecursiveLoopIterationsAreCounted) {
  const ordered_json tree = ordered_json::parse(R"([{"c": [{"c": [{}, {}]}, {}]}, {}])");  // 6 nodes
  const std::string source = "{% for n in tree recursive %}.{{ loop(n.c) if n.c }}{% endfor %}";
  RenderLimits tight;
  tight.max_loop_iterations = 6;
  EXPECT_EQ(render_with(source, {}, {{"tree", tree}}, with_limits(tight)), "......");
  tight.max_loop_iterations = 5;
  EXPECT_TRUE(contains(error_with(source, {}, {{"tree", tree}}, with_limits(tight)), "loop iterations exceed the render limit of 5"));
}

TEST(TemplateLimitsWork, IncludedOutputCountsTowardTheOutputLimit) {
  const Templates t = {{"row", "0123456789"}};
  RenderLimits tight;
  tight.max_output_bytes = 25;
  EXPECT_EQ(render_with("{% include 'row' %}{% include 'row' %}", t, ordered_json::object(), with_limits(tight)).size(), 20u);
  EXPECT_TRUE(contains(error_with("{% for i in range(3) %}{% include 'row' %}{% endfor %}", t, ordered_json::object(),
                                  with_limits(tight)),
                       "template output exceeds the render limit of 25 bytes"));
}

TEST(TemplateLimitsWork, LoadedSourcesCountAsScannedBytes) {
  const Templates t = {{"big", std::string(1000, 'x')}};
  RenderLimits tight;
  tight.max_scanned_bytes = 500;
  EXPECT_TRUE(contains(error_with("{% include 'big' %}", t, ordered_json::object(), with_limits(tight)),
                       "string operations read more than the render limit of 500 bytes"));
}

TEST(TemplateLimitsSize, FiltersAndFormatBuildWithinTheLimits) {
  EXPECT_TRUE(contains(error_with("{{ [1]|batch(10000000, 0)|list }}", {}), "list of 10000000 items exceeds the render limit"));
  EXPECT_TRUE(contains(error_with("{{ [1]|slice(10000000)|list }}", {}), "list of 10000000 items exceeds the render limit"));
  EXPECT_TRUE(contains(error_with("{{ '{:>999999999}'.format(1) }}", {}), "exceeds the render limit"));
  EXPECT_TRUE(contains(error_with("{{ 'ab' * 100000000 }}", {}), "exceeds the render limit"));  // string repetition
  RenderLimits tight;
  tight.max_string_bytes = 100;
  EXPECT_TRUE(contains(error_with("{{ ('x' * 60)|truncate(90) ~ ('y' * 60) }}", {}, ordered_json::object(), with_limits(tight)),
                       "string of 120 bytes exceeds the render limit of 100 bytes"));
}

}  // namespace
}  // namespace qwen3::jinja::testing
