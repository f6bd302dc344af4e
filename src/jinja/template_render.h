#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>

#include "jinja/template_ast.h"
#include "jinja/template_limits.h"

namespace qwen3::jinja {

// Supplies the source of the templates that `include`, `import`, `from ... import` and `extends`
// name: the source, or nullopt when there is no such template (Jinja2's TemplateNotFound). The
// caller decides what a name means; the interpreter itself never opens a file. It is called on
// the rendering thread, at most once per name and render (the parsed template is kept for the
// rest of the render).
using TemplateLoader = std::function<std::optional<std::string>(const std::string& name)>;

struct RenderOptions {
  RenderLimits limits;
  TemplateLoader loader;           // empty: the tags that name a template raise "no loader: ..."
  RenderUsage* usage = nullptr;    // when set, receives what the render used (also when it fails)
};

// Renders a parsed template; throws qwen3::TemplateError naming template, line and column, also
// when the render runs past one of the limits.
std::string render_template(const TemplateAst& ast, const nlohmann::ordered_json& vars, const RenderOptions& options);

inline std::string render_template(const TemplateAst& ast, const nlohmann::ordered_json& vars,
                                   const RenderLimits& limits = {}, RenderUsage* usage = nullptr) {
  return render_template(ast, vars, RenderOptions{.limits = limits, .loader = {}, .usage = usage});
}

}  // namespace qwen3::jinja
