#include "chat/chat_template.h"

#include "jinja/template_ast.h"
#include "jinja/template_render.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/json_file.h"

namespace qwen3 {

struct ChatTemplate::Impl {
  std::unique_ptr<jinja::TemplateAst> ast;
};

ChatTemplate ChatTemplate::parse(std::string source, std::string name) {
  auto impl = std::make_shared<Impl>();
  impl->ast = jinja::parse_template(source, std::move(name));
  return ChatTemplate(std::move(impl));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& vars) const {
  return jinja::render_template(*impl_->ast, vars);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& vars, const jinja::TemplateLoader& loader) const {
  return jinja::render_template(*impl_->ast, vars, jinja::RenderOptions{.limits = {}, .loader = loader, .usage = nullptr});
}

const std::string& ChatTemplate::name() const { return impl_->ast->name; }

namespace {

using nlohmann::ordered_json;

}  // namespace

ChatTemplateFiles ChatTemplateFiles::load(const std::filesystem::path& model_dir) {
  ChatTemplateFiles files;
  const auto config_path = model_dir / "tokenizer_config.json";
  ordered_json config = ordered_json::object();
  const bool have_config = regular_file_exists(config_path);
  if (have_config) {
    config = read_json_file<ordered_json>(config_path);
    if (!config.is_object()) fail("{}: expected an object at the top level", config_path.string());
  }

  // The special tokens transformers passes to the template (its special_tokens_map: the ones
  // that are set), each a string or an AddedToken object {"content": ...}.
  auto token_text = [&](const ordered_json& t, const std::string& key) -> std::optional<std::string> {
    if (t.is_null()) return std::nullopt;
    if (t.is_string()) return t.get<std::string>();
    if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
    fail("{}: {}: expected a string, an object with \"content\", or null", config_path.string(), key);
  };
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    if (auto it = config.find(key); it != config.end()) {
      // transformers' special_tokens_map leaves out tokens that are unset or empty.
      if (auto text = token_text(*it, key); text && !text->empty()) files.special_tokens[key] = *text;
    }
  }
  if (auto it = config.find("additional_special_tokens"); it != config.end() && it->is_array() && !it->empty()) {
    ordered_json list = ordered_json::array();
    for (const auto& t : *it) {
      if (auto text = token_text(t, "additional_special_tokens")) list.push_back(*text);
    }
    files.special_tokens["additional_special_tokens"] = std::move(list);
  }

  // Newer transformers save the template as chat_template.jinja, which wins over the config.
  const auto jinja_path = model_dir / "chat_template.jinja";
  if (regular_file_exists(jinja_path)) {
    files.templates["default"] = read_file(jinja_path);
    files.origin = jinja_path.string();
    return files;
  }
  // Line and column in messages count within the template text, not within the JSON file.
  files.origin = config_path.string() + " (chat_template)";
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) {
    if (!have_config) fail("{}: no tokenizer_config.json or chat_template.jinja", model_dir.string());
    fail("{}: no chat_template", config_path.string());
  }
  if (it->is_string()) {
    files.templates["default"] = it->get<std::string>();
  } else if (it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const ordered_json& t = (*it)[i];
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("template") ||
          !t["template"].is_string()) {
        fail("{}: chat_template[{}]: expected {{\"name\": string, \"template\": string}}", config_path.string(), i);
      }
      files.templates[t["name"].get<std::string>()] = t["template"].get<std::string>();
    }
  } else {
    fail("{}: chat_template: expected a string or a list of {{name, template}}", config_path.string());
  }
  return files;
}

const std::string& ChatTemplateFiles::select(bool with_tools) const {
  if (with_tools) {
    if (auto it = templates.find("tool_use"); it != templates.end()) return it->second;
  }
  if (auto it = templates.find("default"); it != templates.end()) return it->second;
  std::string names;
  for (const auto& [name, source] : templates) names += (names.empty() ? "" : ", ") + name;
  fail("{}: no \"default\" chat template (there are: {})", origin, names);
}

nlohmann::ordered_json ChatTemplateFiles::variables(const nlohmann::ordered_json& input) const {
  if (!input.is_object()) fail("the template variables must be a JSON object");
  ordered_json vars = special_tokens;
  vars["tools"] = nullptr;
  vars["documents"] = nullptr;
  vars["add_generation_prompt"] = false;
  for (const auto& [k, v] : input.items()) vars[k] = v;
  return vars;
}

}  // namespace qwen3
