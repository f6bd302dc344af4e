// ChatTemplate: one parse, many renders from several threads, and the real Qwen3 template read
// from its model folder.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "../source_tree.h"
#include "chat/chat_template.h"

namespace qwen3 {
namespace {

using nlohmann::ordered_json;

TEST(ChatTemplateApi, ParseOnceRenderManyAndConcurrently) {
  const ChatTemplate t = ChatTemplate::parse("{% for m in messages %}{{ m.role }}:{{ m.content }}\n{% endfor %}");
  std::vector<std::thread> threads;
  std::vector<std::string> outs(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 50; ++k) {
        outs[i] = t.render({{"messages", {{{"role", "user"}, {"content", std::to_string(i)}}}}});
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(outs[i], "user:" + std::to_string(i) + "\n");
  EXPECT_THROW(t.render(ordered_json::array()), Error);
}

// The real Qwen3 template: expected text derived by reading the template with Jinja2's rules
// (trim_blocks / lstrip_blocks and the `-` modifiers leave only the `{{- ... }}` outputs).
TEST(ChatTemplateQwen3, ToolCallConversation) {
  const auto dir = test::qwen3_tokenizer_dir();
  ASSERT_TRUE(std::filesystem::exists(dir / "tokenizer_config.json")) << test::kInstallTokenizer;
  const ChatTemplateFiles files = ChatTemplateFiles::load(dir);
  const ChatTemplate t = ChatTemplate::parse(files.select(true), files.origin);
  const ordered_json input = ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be terse."},
      {"role": "user", "content": "Weather in Zürich?"},
      {"role": "assistant", "content": "", "reasoning_content": "Call the tool.",
       "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}}]},
      {"role": "tool", "content": "18 C"},
      {"role": "tool", "content": "rain"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true
  })");
  EXPECT_EQ(t.render(files.variables(input)),
            "<|im_start|>system\nBe terse.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
            "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}\n"
            "</tools>\n\nFor each function call, return a json object with function name and arguments within "
            "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
            "</tool_call><|im_end|>\n"
            "<|im_start|>user\nWeather in Zürich?<|im_end|>\n"
            "<|im_start|>assistant\n<think>\nCall the tool.\n</think>\n\n"
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", \"days\": 2}}\n</tool_call><|im_end|>\n"
            "<|im_start|>user\n<tool_response>\n18 C\n</tool_response>\n<tool_response>\nrain\n</tool_response><|im_end|>\n"
            "<|im_start|>assistant\n");
  const ordered_json no_think = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"add_generation_prompt", true}, {"enable_thinking", false}};
  EXPECT_EQ(t.render(files.variables(no_think)), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  EXPECT_EQ(files.special_tokens.value("eos_token", ""), "<|im_end|>");
  EXPECT_FALSE(files.special_tokens.contains("bos_token"));  // null in the Qwen3 config
}

}  // namespace
}  // namespace qwen3
