// The Jinja interpreter (lexer, parser, renderer) behind ChatTemplate. The input is a template,
// optionally followed by a NUL byte and a JSON object of variables; without one (or when it is not
// a JSON object) the template is rendered with a small chat: messages, tools, add_generation_prompt.
// TemplateError (syntax and runtime errors, raise_exception) is the expected failure. The loader
// serves the input itself as "self" (include / import / extends of itself, recursing to the depth
// limit) and two fixed templates, "base" (blocks) and "macros".
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

const nlohmann::ordered_json& default_vars() {
  static const auto vars = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi <b>there</b> \u00e9"},
      {"role": "assistant", "content": "", "reasoning_content": "think",
       "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
      {"role": "tool", "content": "42"}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}],
    "add_generation_prompt": true, "enable_thinking": false,
    "bos_token": "<s>", "eos_token": "<|im_end|>", "xs": [1, 2, 3], "n": null, "s": "abc"
  })");
  return vars;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  const void* nul = std::memchr(text, '\0', size);
  const size_t template_size = nul ? static_cast<const char*>(nul) - text : size;
  nlohmann::ordered_json vars = default_vars();
  if (nul) {
    auto j = nlohmann::ordered_json::parse(text + template_size + 1, text + size, nullptr, false);
    if (j.is_object()) vars = std::move(j);
  }
  const std::string source(text, template_size);
  const qwen3::jinja::TemplateLoader loader = [&source](const std::string& name) -> std::optional<std::string> {
    if (name == "self") return source;
    if (name == "base") return std::string("<{% block head %}H{% endblock %}|{% block body %}{{ x }}{% endblock %}>");
    if (name == "macros") return std::string("{% set v = 1 %}{% macro m(a) %}[{{ a }}{{ caller() if caller }}]{% endmacro %}");
    return std::nullopt;
  };
  try {
    const auto t = qwen3::ChatTemplate::parse(source, "fuzz");
    (void)t.render(vars, loader);
  } catch (const qwen3::TemplateError&) {
  }
  return 0;
}
