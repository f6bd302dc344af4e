// Writes a quantized Qwen3 checkpoint (`qwen3 quantize`): the Hugging Face layout with q8 / q4
// tensors, or Hugging Face's own FP8 layout (F8_E4M3 weights with F32 weight_scale_inv, the
// embedding table and lm_head as stored), described in docs/quantization.md, which
// Qwen3Model::load reads back without quantizing again (bit for bit the same weights as
// quantizing on load).
#pragma once

#include <filesystem>

#include "model/qwen3_weights.h"

namespace qwen3 {

// `weights` were loaded from `src_dir` with LoadOptions::quant set and world_size 1. Writes
// model.safetensors and config.json (with quantization_config) into `out_dir`, and copies the
// other files of `src_dir` (tokenizer, generation config, chat template).
void write_quantized_checkpoint(const std::filesystem::path& src_dir, const Qwen3Config& config,
                                const Qwen3Weights& weights, Quant quant, const std::filesystem::path& out_dir);

}  // namespace qwen3
