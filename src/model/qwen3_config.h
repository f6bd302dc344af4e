// Qwen3Config as published in a Hugging Face config.json, parsed once into typed fields, plus
// generation_config.json. Field names follow transformers' Qwen3Config.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace qwen3 {

enum class Activation { SiLU, GeluErf, GeluTanh, ReLU };

enum class RopeType { Default, Linear, Yarn };

// A checkpoint written by `qwen3 quantize` (quantization_config.quant_method "qwen3cpp"; the
// layout is in docs/quantization.md). Which tensors are q8 or q4 is read from their dtypes.
// Fp8: a Hugging Face FP8 checkpoint (quant_method "fp8", fmt "e4m3", activation_scheme
// "dynamic", weight_block_size [128, 128]), as Qwen publishes them; which linear layers are FP8
// is read from their dtypes (F8_E4M3 with a *.weight_scale_inv).
enum class CheckpointQuant { None, Q8, Q4, Fp8 };

struct RopeScaling {
  RopeType type = RopeType::Default;
  double factor = 1.0;
  // yarn only
  int64_t original_max_position_embeddings = 0;  // falls back to max_position_embeddings
  std::optional<double> attention_factor;
  std::optional<double> beta_fast, beta_slow, mscale, mscale_all_dim;
  bool truncate = true;
};

struct Qwen3Config {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // explicit in Qwen3; hidden_size / num_attention_heads only when absent
  bool attention_bias = false;
  Activation hidden_act = Activation::SiLU;
  std::string hidden_act_name = "silu";
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 0;
  std::optional<DType> torch_dtype;
  CheckpointQuant quantization = CheckpointQuant::None;
  std::vector<std::string> modules_to_not_convert;  // Fp8: modules left unquantized, as listed
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;  // token ids, int32_t like every token

  // The longest sequence this model runs, in positions: max_position_embeddings, or with YaRN
  // original_max_position_embeddings x factor when that is longer (vLLM derives max_model_len the
  // same way: Qwen3 ships 40960 and documents YaRN factor 4 over 32768 for 131072).
  int64_t max_context() const;
  // What sets it, for error messages: "max_position_embeddings" or YaRN's product.
  const char* max_context_source() const;

  // Parses config.json text; `where` names the file in error messages.
  static Qwen3Config from_json(const nlohmann::json& j, const std::string& where);
  static Qwen3Config load(const std::filesystem::path& config_json);
};

struct GenerationConfig {
  std::optional<int32_t> bos_token_id, pad_token_id;
  std::vector<int32_t> eos_token_ids;
  bool do_sample = false;
  double temperature = 1.0;
  int64_t top_k = 50;
  double top_p = 1.0;
  double min_p = 0.0;
  double repetition_penalty = 1.0;
  std::optional<int64_t> max_new_tokens;

  // An absent file gives the transformers defaults. With vocab_size, token ids are checked to lie
  // in [0, vocab_size).
  static GenerationConfig load(const std::filesystem::path& generation_config_json,
                               std::optional<int64_t> vocab_size = std::nullopt);
};

// RoPE tables derived from the config: inverse frequencies (head_dim / 2 of them) and the factor
// that multiplies cos and sin (yarn's attention_factor; 1 otherwise), computed in double precision
// as transformers' rope utilities define them.
struct RopeParams {
  std::vector<double> inv_freq;
  double attention_scaling = 1.0;
};
RopeParams compute_rope(const Qwen3Config& c);

}  // namespace qwen3
