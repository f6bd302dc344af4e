#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "chat/template_ast.h"

namespace qwen3::jinja {

// Renders a parsed template; throws qwen3::TemplateError naming line and column.
std::string render_template(const TemplateAst& ast, const nlohmann::ordered_json& vars);

}  // namespace qwen3::jinja
