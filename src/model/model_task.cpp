#include "model/model_task.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace qwen3 {

std::string_view task_name(ModelTask t) {
  switch (t) {
    case ModelTask::Generate: return "generate";
    case ModelTask::Embed: return "embed";
    case ModelTask::Rerank: return "rerank";
  }
  return "generate";
}

std::optional<ModelTask> parse_task(std::string_view name) {
  for (ModelTask t : {ModelTask::Generate, ModelTask::Embed, ModelTask::Rerank})
    if (task_name(t) == name) return t;
  return std::nullopt;
}

namespace {

bool has_pooling_module(const std::filesystem::path& dir) {
  std::ifstream f(dir / "modules.json");
  if (!f) return false;
  const nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return false;
  return std::any_of(j.begin(), j.end(), [](const nlohmann::json& m) {
    const auto t = m.is_object() ? m.find("type") : m.end();
    return t != m.end() && t->is_string() && t->get<std::string>().find("Pooling") != std::string::npos;
  });
}

}  // namespace

ModelTask detect_task(const std::filesystem::path& dir, const Qwen3Weights& weights) {
  if (weights.backbone_only || has_pooling_module(dir)) return ModelTask::Embed;
  // The whole path: a Hugging Face Hub cache holds it as .../models--Qwen--Qwen3-Reranker-0.6B/snapshots/<hash>.
  std::string name = std::filesystem::weakly_canonical(dir).string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return name.find("reranker") != std::string::npos ? ModelTask::Rerank : ModelTask::Generate;
}

}  // namespace qwen3
