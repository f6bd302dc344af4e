// Chat templates: the checkpoint's own Jinja `chat_template`, rendered as Hugging Face transformers
// renders it (Python Jinja2, ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks,
// the loopcontrols extension, `tojson` as json.dumps(ensure_ascii=False), `raise_exception`,
// `strftime_now`). Our own interpreter of the Jinja subset chat templates use; see
// src/jinja/template_ast.h for what is supported and tests/chat/README.md for known deviations.
//
//   const ChatTemplate t = ChatTemplate::parse(source);        // once per model
//   std::string prompt = t.render({{"messages", messages}, {"add_generation_prompt", true}});
//
// render() is const and may be called from several threads at once.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "jinja/template_error.h"
#include "jinja/template_render.h"

namespace qwen3 {

// TemplateError (jinja/template_error.h): what() is "NAME:LINE:COLUMN: message".
class ChatTemplate {
 public:
  // Parses Jinja source; throws TemplateError on a syntax error. `name` prefixes error messages.
  static ChatTemplate parse(std::string source, std::string name = "chat_template");

  // Renders with `vars` (an object: messages, tools, add_generation_prompt, bos_token, ...; keys
  // keep their order, so tool schemas print as they were given). Throws TemplateError.
  std::string render(const nlohmann::ordered_json& vars) const;
  // The same, with `loader` resolving the templates that include / import / extends name (a chat
  // template renders without one: those tags fail).
  std::string render(const nlohmann::ordered_json& vars, const jinja::TemplateLoader& loader) const;

  const std::string& name() const;

  struct Impl;

 private:
  explicit ChatTemplate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// What a model folder says about its chat template, as transformers reads it: chat_template.jinja
// when present, else tokenizer_config.json's `chat_template` (a string, or a list of
// {"name", "template"}); and the special tokens transformers passes to the template.
struct ChatTemplateFiles {
  std::map<std::string, std::string> templates;  // name -> source; "default" for a single template
  std::string origin;  // where the templates came from, for messages: "DIR/chat_template.jinja" or
                       // "DIR/tokenizer_config.json (chat_template)"
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();  // bos_token, eos_token, ...

  static ChatTemplateFiles load(const std::filesystem::path& model_dir);

  // transformers' choice: "tool_use" when tools are given and such a template exists, else
  // "default". Throws qwen3::Error when there is none.
  const std::string& select(bool with_tools) const;

  // The variables transformers renders with: the special tokens, tools = None, documents = None,
  // add_generation_prompt = False, then `input`'s (an object; they win).
  nlohmann::ordered_json variables(const nlohmann::ordered_json& input) const;
};

}  // namespace qwen3
