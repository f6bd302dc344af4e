// Defaults a checkpoint sets for generation (generation_config.json), as transformers reads them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "engine/sampling_params.h"
#include "model/qwen3_config.h"

namespace qwen3 {

// End of sequence as transformers' generate() takes it: generation_config.json's eos_token_id,
// else config.json's; each checked to lie in config.vocab_size.
std::vector<int32_t> end_of_sequence_ids(const std::filesystem::path& model_dir, const Qwen3Config& config);

namespace engine {
// Sampling defaults from generation_config.json: do_sample false means greedy (temperature 0);
// otherwise its temperature, top_k, top_p, min_p and repetition_penalty.
SamplingParams default_sampling(const GenerationConfig& gen);
// The same from `model_dir`/generation_config.json (the server's defaults and the CLI's).
SamplingParams default_sampling(const std::filesystem::path& model_dir);
}  // namespace engine

}  // namespace qwen3
