// Reading a model folder's chat template and special tokens as transformers does.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "chat/chat_template.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

class ChatTemplateFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwen3_chat_files_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name, std::ios::binary) << text; }

  fs::path dir_;
};

TEST_F(ChatTemplateFilesTest, StringTemplateAndTokenForms) {
  write("tokenizer_config.json", R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
    "eos_token": "</s>", "pad_token": null, "unk_token": "", "additional_special_tokens": ["<a>", {"content": "<b>"}],
    "chat_template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"})");
  const ChatTemplateFiles f = ChatTemplateFiles::load(dir_);
  EXPECT_EQ(f.select(false), "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}");
  EXPECT_EQ(f.select(true), f.select(false));
  EXPECT_EQ(f.special_tokens.dump(), R"({"bos_token":"<s>","eos_token":"</s>","additional_special_tokens":["<a>","<b>"]})");
  const ordered_json vars = f.variables({{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"eos_token", "<override>"}});
  EXPECT_TRUE(vars["tools"].is_null());
  EXPECT_TRUE(vars["documents"].is_null());
  EXPECT_EQ(vars["add_generation_prompt"], false);
  EXPECT_EQ(ChatTemplate::parse(f.select(false)).render(vars), "<s>hi<override>");
}

TEST_F(ChatTemplateFilesTest, NamedTemplates) {
  write("tokenizer_config.json", R"({"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]})");
  const ChatTemplateFiles f = ChatTemplateFiles::load(dir_);
  EXPECT_EQ(f.select(false), "D");
  EXPECT_EQ(f.select(true), "T");
  write("tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "R"}]})");
  try {
    ChatTemplateFiles::load(dir_).select(false);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json (chat_template): no \"default\" chat template (there are: rag)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(ChatTemplateFilesTest, JinjaFileWins) {
  write("tokenizer_config.json", R"({"chat_template": "from config", "eos_token": "E"})");
  write("chat_template.jinja", "from file\n");
  const ChatTemplateFiles f = ChatTemplateFiles::load(dir_);
  EXPECT_EQ(f.select(false), "from file\n");
  EXPECT_EQ(f.origin, (dir_ / "chat_template.jinja").string());
  EXPECT_EQ(f.special_tokens.value("eos_token", ""), "E");
  fs::remove(dir_ / "tokenizer_config.json");
  EXPECT_EQ(ChatTemplateFiles::load(dir_).select(false), "from file\n");  // no config needed
}

TEST_F(ChatTemplateFilesTest, Errors) {
  auto message = [&] {
    try {
      ChatTemplateFiles::load(dir_);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message().find("no tokenizer_config.json or chat_template.jinja"), std::string::npos);
  write("tokenizer_config.json", "{ not json");
  EXPECT_NE(message().find("tokenizer_config.json: not valid JSON"), std::string::npos);
  write("tokenizer_config.json", R"({"eos_token": "x"})");
  EXPECT_NE(message().find("tokenizer_config.json: no chat_template"), std::string::npos);
  write("tokenizer_config.json", R"({"chat_template": 5})");
  EXPECT_NE(message().find("chat_template: expected a string or a list"), std::string::npos);
  write("tokenizer_config.json", R"({"chat_template": "x", "bos_token": 3})");
  EXPECT_NE(message().find("bos_token: expected a string"), std::string::npos);
}

}  // namespace
}  // namespace qwen3
