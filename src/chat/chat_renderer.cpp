#include "chat/chat_renderer.h"

namespace qwen3 {

ChatTemplateRenderer::ChatTemplateRenderer(const std::filesystem::path& model_dir) {
  files_ = ChatTemplateFiles::load(model_dir);
  for (auto& [name, source] : files_.templates)
    templates_.emplace(&source, std::make_unique<ChatTemplate>(ChatTemplate::parse(source, files_.origin)));
}

std::string ChatTemplateRenderer::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                         bool enable_thinking, const nlohmann::ordered_json& tools,
                                         const nlohmann::ordered_json& extra) const {
  nlohmann::ordered_json input = nlohmann::ordered_json::object();
  if (extra.is_object())
    for (auto& [k, v] : extra.items()) input[k] = v;
  input["messages"] = messages;
  input["add_generation_prompt"] = add_generation_prompt;
  input["enable_thinking"] = enable_thinking;
  if (!tools.is_null()) input["tools"] = tools;
  return templates_.at(&files_.select(!tools.is_null()))->render(files_.variables(input));
}

}  // namespace qwen3
