#include "engine/generation_defaults.h"

namespace qwen3 {

std::vector<int32_t> end_of_sequence_ids(const std::filesystem::path& model_dir, const Qwen3Config& config) {
  const GenerationConfig gen = GenerationConfig::load(model_dir / "generation_config.json", config.vocab_size);
  return gen.eos_token_ids.empty() ? config.eos_token_ids : gen.eos_token_ids;
}

namespace engine {
SamplingParams default_sampling(const GenerationConfig& gen) {
  SamplingParams p;
  p.temperature = gen.do_sample ? gen.temperature : 0.0;
  p.top_k = gen.do_sample ? gen.top_k : 0;
  p.top_p = gen.do_sample ? gen.top_p : 1.0;
  p.min_p = gen.do_sample ? gen.min_p : 0.0;
  p.repetition_penalty = gen.repetition_penalty;
  return p;
}

SamplingParams default_sampling(const std::filesystem::path& model_dir) {
  return default_sampling(GenerationConfig::load(model_dir / "generation_config.json"));
}
}  // namespace engine

}  // namespace qwen3
