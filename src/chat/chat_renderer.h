// The chat templates of a model folder (chat_template.jinja, or tokenizer_config.json's
// chat_template), parsed once and rendered with the special-token variables transformers passes.
// Shared by the CLI chat and the server; render() is const and safe from several threads.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"

namespace qwen3 {

class ChatTemplateRenderer {
 public:
  explicit ChatTemplateRenderer(const std::filesystem::path& model_dir);
  // `extra` (an object or null) adds template variables, as chat_template_kwargs does in vLLM;
  // the named arguments win over it.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt, bool enable_thinking,
                     const nlohmann::ordered_json& tools = nullptr,
                     const nlohmann::ordered_json& extra = nullptr) const;

 private:
  ChatTemplateFiles files_;
  std::map<const std::string*, std::unique_ptr<ChatTemplate>> templates_;  // by source in files_
};

}  // namespace qwen3
