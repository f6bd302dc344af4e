// The sampling flags of `generate` and `chat` (--temperature, --top-p, --top-k, --min-p,
// --presence-penalty, --seed). What is not given comes from the checkpoint's generation_config.json
// exactly as the server takes it (engine::default_sampling: do_sample false is greedy), and what is
// given is checked by the server's own rules (server::parse_distribution), errors naming the flag.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "engine/sampling_params.h"

namespace qwen3::tools {

struct SamplingFlags {
  std::optional<double> temperature, top_p, min_p, presence_penalty;
  std::optional<int64_t> top_k, seed;
};

void add_sampling_flags(CLI::App& app, SamplingFlags& f);

// generation_config.json's defaults in `model_dir`, then the flags given. Throws qwen3::Error.
engine::SamplingParams sampling_params(const SamplingFlags& f, const std::filesystem::path& model_dir);

// One line for --stats and logs: "temperature 0.6, top_p 0.95, top_k 20, seed 7" or "greedy".
std::string describe_sampling(const engine::SamplingParams& p);

}  // namespace qwen3::tools
