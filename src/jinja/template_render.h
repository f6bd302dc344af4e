#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "jinja/template_ast.h"
#include "jinja/template_limits.h"

namespace qwen3::jinja {

// Renders a parsed template; throws qwen3::TemplateError naming line and column, also when the
// render runs past one of `limits`. `usage`, when given, receives what the render used (also
// when it fails).
std::string render_template(const TemplateAst& ast, const nlohmann::ordered_json& vars, const RenderLimits& limits = {},
                            RenderUsage* usage = nullptr);

}  // namespace qwen3::jinja
