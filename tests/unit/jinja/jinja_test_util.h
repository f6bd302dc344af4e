// Helpers of the interpreter's tests: render a source with a map of named templates as the
// loader, and catch the error a render raises.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "jinja/template_ast.h"
#include "jinja/template_error.h"
#include "jinja/template_render.h"

namespace qwen3::jinja::testing {

using nlohmann::ordered_json;
using Templates = std::map<std::string, std::string>;

// A loader over `templates` (copied: the loader may outlive the caller's map).
inline TemplateLoader map_loader(Templates templates) {
  return [t = std::move(templates)](const std::string& name) -> std::optional<std::string> {
    auto it = t.find(name);
    if (it == t.end()) return std::nullopt;
    return it->second;
  };
}

inline std::string render_with(const std::string& source, const Templates& templates,
                               const ordered_json& vars = ordered_json::object(), RenderOptions options = {}) {
  options.loader = map_loader(templates);
  return render_template(*parse_template(source, "template"), vars, options);
}

// The message of the error the render raises ("" and a test failure if none).
inline std::string error_with(const std::string& source, const Templates& templates,
                              const ordered_json& vars = ordered_json::object(), RenderOptions options = {}) {
  try {
    const std::string out = render_with(source, templates, vars, std::move(options));
    ADD_FAILURE() << "no error; rendered " << out.substr(0, 200);
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "";
}

}  // namespace qwen3::jinja::testing
