// What a checkpoint is for. Qwen3-Embedding and Qwen3-Reranker are published with the same
// config.json as the chat models ("architectures": ["Qwen3ForCausalLM"]), so the task is read from
// the folder around it (see detect_task); `--task` overrides it.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "model/qwen3_weights.h"

namespace qwen3 {

enum class ModelTask { Generate, Embed, Rerank };

std::string_view task_name(ModelTask t);                    // "generate" | "embed" | "rerank"
std::optional<ModelTask> parse_task(std::string_view name);  // also "auto" -> nullopt, see below

// Embed: the weights are transformers' Qwen3Model without the "model." prefix (how every
// Qwen3-Embedding checkpoint is stored), or the folder is a sentence-transformers model whose
// modules.json holds a Pooling module. Rerank: the folder's path contains "reranker" (any case),
// as Qwen/Qwen3-Reranker-* folders and their Hub cache paths do; their files are those of a causal
// LM. Otherwise Generate.
ModelTask detect_task(const std::filesystem::path& dir, const Qwen3Weights& weights);

}  // namespace qwen3
