// The render limits against the template they must never get in the way of: the real Qwen3 chat
// template with a long agentic conversation stays below a tenth of every bound. If a limit is
// tightened, or the template's needs grow, this says by how much.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "../source_tree.h"
#include "chat/chat_template.h"
#include "jinja/template_ast.h"
#include "jinja/template_render.h"

namespace qwen3::jinja {
namespace {

using nlohmann::ordered_json;

// 200 messages: a system prompt, then rounds of user -> assistant (reasoning_content and two tool
// calls, or reasoning inline in <think>) -> two tool results -> assistant; and 20 tools.
ordered_json long_conversation() {
  ordered_json tools = ordered_json::array();
  for (int t = 0; t < 20; ++t) {
    tools.push_back({{"type", "function"},
                     {"function",
                      {{"name", "tool_" + std::to_string(t)},
                       {"description", "Looks things up in catalogue " + std::to_string(t) + ". " + std::string(200, 'd')},
                       {"parameters",
                        {{"type", "object"},
                         {"properties",
                          {{"query", {{"type", "string"}, {"description", "what to look for"}}},
                           {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}},
                           {"filters", {{"type", "array"}, {"items", {{"type", "string"}, {"enum", {"a", "b", "c"}}}}}}}},
                         {"required", {"query"}}}}}}});
  }
  ordered_json messages = ordered_json::array();
  messages.push_back({{"role", "system"}, {"content", "You are a careful assistant. " + std::string(500, 's')}});
  for (int i = 0; messages.size() < 200; ++i) {
    const std::string n = std::to_string(i);
    messages.push_back({{"role", "user"}, {"content", "Question " + n + ": " + std::string(400, 'q')}});
    ordered_json call = {{"type", "function"},
                         {"function", {{"name", "tool_" + std::to_string(i % 20)}, {"arguments", {{"query", "item " + n}, {"limit", 5}}}}}};
    if (i % 2 == 0) {
      messages.push_back({{"role", "assistant"}, {"content", ""}, {"reasoning_content", "I should look this up. " + std::string(300, 'r')},
                          {"tool_calls", {call, call}}});
    } else {
      messages.push_back({{"role", "assistant"}, {"content", "<think>\nLook it up.\n</think>\n\nLooking."}, {"tool_calls", {call, call}}});
    }
    messages.push_back({{"role", "tool"}, {"content", "result A for " + n + ": " + std::string(600, 'a')}});
    messages.push_back({{"role", "tool"}, {"content", "result B for " + n + ": " + std::string(600, 'b')}});
    messages.push_back({{"role", "assistant"}, {"content", "Answer " + n + ". " + std::string(300, 'x')}});
  }
  messages.erase(messages.begin() + 200, messages.end());
  return {{"messages", messages}, {"tools", tools}, {"add_generation_prompt", true}};
}

TEST(ChatTemplateQwen3Limits, LongAgenticConversationUsesUnderATenthOfEveryLimit) {
  const auto dir = test::qwen3_tokenizer_dir();
  ASSERT_TRUE(std::filesystem::exists(dir / "tokenizer_config.json")) << test::kInstallTokenizer;
  const ChatTemplateFiles files = ChatTemplateFiles::load(dir);
  const auto ast = parse_template(files.select(true), files.origin);
  const ordered_json vars = files.variables(long_conversation());
  ASSERT_EQ(vars["messages"].size(), 200u);

  const RenderLimits limits;
  RenderUsage used;
  const std::string prompt = render_template(*ast, vars, limits, &used);
  EXPECT_EQ(prompt.rfind("<|im_start|>assistant\n"), prompt.size() - 22);
  EXPECT_NE(prompt.find("<tool_call>\n{\"name\": \"tool_19\""), std::string::npos);

  EXPECT_GT(used.loop_iterations, 400);  // the template walks the messages twice
  EXPECT_LT(used.loop_iterations, limits.max_loop_iterations / 10);
  EXPECT_LT(used.largest_range, limits.max_range / 10);
  EXPECT_LT(used.output_bytes, limits.max_output_bytes / 10);
  EXPECT_LT(used.largest_string_bytes, limits.max_string_bytes / 10);
  EXPECT_LT(used.largest_list_items, limits.max_list_items / 10);
  EXPECT_LT(used.built_bytes, limits.max_built_bytes / 10);
  EXPECT_LT(used.scanned_bytes, limits.max_scanned_bytes / 10);
  EXPECT_LT(used.comparisons, limits.max_comparisons / 10);
  EXPECT_LT(used.deepest_call, limits.max_call_depth / 10 + 1);
  EXPECT_EQ(used.deepest_template, 1);  // the template alone: no include, import or extends
  EXPECT_LT(used.deepest_nesting, limits.max_nesting_depth / 10);
  // Not asserted (machines differ): the time of one render, for the record.
  const auto start = std::chrono::steady_clock::now();
  constexpr int kRuns = 20;
  for (int i = 0; i < kRuns; ++i) render_template(*ast, vars, limits);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kRuns;
  std::cout << "[ usage    ] render " << ms << " ms, output " << used.output_bytes << " B, loop iterations " << used.loop_iterations << ", built "
            << used.built_bytes << " B, scanned " << used.scanned_bytes << " B, comparisons " << used.comparisons
            << ", largest string " << used.largest_string_bytes << " B, largest list " << used.largest_list_items
            << ", nesting " << used.deepest_nesting << "\n";
}

TEST(ChatTemplateQwen3Limits, CallerSetsTheLimits) {
  const auto ast = parse_template("{% for i in range(n) %}{{ i }}{% endfor %}", "t");
  RenderLimits tight;
  tight.max_loop_iterations = 5;
  EXPECT_EQ(render_template(*ast, {{"n", 5}}, tight), "01234");
  try {
    render_template(*ast, {{"n", 6}}, tight);
    ADD_FAILURE() << "no error";
  } catch (const TemplateError& e) {
    EXPECT_STREQ(e.what(), "t:1:1: loop iterations exceed the render limit of 5");
  }
  tight.max_range = 3;
  tight.max_output_bytes = 2;
  RenderUsage used;
  EXPECT_EQ(render_template(*ast, {{"n", 2}}, tight, &used), "01");
  EXPECT_EQ(used.loop_iterations, 2);
  EXPECT_EQ(used.output_bytes, 2u);
  EXPECT_THROW(render_template(*ast, {{"n", 3}}, tight), TemplateError);  // 3 bytes of output
  EXPECT_THROW(render_template(*ast, {{"n", 4}}, tight), TemplateError);  // range
  const auto macro = parse_template("{% macro f(n) %}{{ f(n + 1) if n < 10 }}{% endmacro %}{{ f(0) }}", "m");
  tight.max_call_depth = 10;
  EXPECT_THROW(render_template(*macro, ordered_json::object(), tight), TemplateError);
  tight.max_call_depth = 11;
  EXPECT_EQ(render_template(*macro, ordered_json::object(), tight, &used), "");
  EXPECT_EQ(used.deepest_call, 11);
}

}  // namespace
}  // namespace qwen3::jinja
