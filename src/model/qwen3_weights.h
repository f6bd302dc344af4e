// Qwen3 weights on one tensor-parallel rank, typed and in their stored dtype (bf16 stays bf16).
// QKV and gate/up are fused on load. Shapes are this rank's: Hq = num_attention_heads / world_size,
// Hkv = num_key_value_heads / world_size, I = intermediate_size / world_size, D = head_dim.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "core/buffer.h"
#include "kernels/kernels.h"
#include "model/qwen3_config.h"

namespace qwen3 {

struct Linear {
  DType dtype = DType::F32;
  int64_t out = 0, in = 0;
  Buffer weight;             // [out, in] of dtype
  std::vector<float> bias;   // [out], empty when the layer has none

  kernels::WeightView view() const { return {dtype, weight.data(), out, in}; }
};

struct Qwen3Layer {
  std::vector<float> input_layernorm;           // [hidden]
  Linear qkv;                                   // [(Hq + 2 Hkv) * D, hidden], rows q | k | v; bias when attention_bias
  std::vector<float> q_norm, k_norm;            // [D]
  Linear o_proj;                                // [hidden, Hq * D]; its bias (attention_bias) is added once, after the all-reduce
  std::vector<float> post_attention_layernorm;  // [hidden]
  Linear gate_up;                               // [2 I, hidden], rows gate | up
  Linear down;                                  // [hidden, I]
};

struct Qwen3Weights {
  Linear embed_tokens;              // [vocab, hidden], replicated; also the head when tied
  std::vector<Qwen3Layer> layers;   // [num_hidden_layers]
  std::vector<float> norm;          // [hidden]
  std::optional<Linear> lm_head;    // [vocab, hidden]; absent when tie_word_embeddings

  const Linear& head() const { return lm_head ? *lm_head : embed_tokens; }
  size_t bytes() const;
};

struct LoadOptions {
  int rank = 0;
  int world_size = 1;
};

// Reads the checkpoint in `dir` (validated against `config`) and keeps this rank's slices.
// Errors name the file and the tensor.
Qwen3Weights load_weights(const std::filesystem::path& dir, const Qwen3Config& config, const LoadOptions& opts);

}  // namespace qwen3
