#include "tools/sampling_flags.h"

#include <fmt/format.h>

#include "core/error.h"
#include "engine/generation_defaults.h"
#include "server/openai_api.h"

namespace qwen3::tools {

namespace {
// An option that sets `target` only when given (its absence leaves generation_config.json's value).
template <typename T>
void optional_flag(CLI::App& app, const char* name, std::optional<T>& target, const char* help) {
  app.add_option_function<T>(name, [&target](const T& v) { target = v; }, help);
}
}  // namespace

void add_sampling_flags(CLI::App& app, SamplingFlags& f) {
  optional_flag(app, "--temperature", f.temperature, "0 is greedy (default: generation_config.json, as the server)");
  optional_flag(app, "--top-p", f.top_p, "nucleus sampling mass, (0, 1] (default: generation_config.json)");
  optional_flag(app, "--top-k", f.top_k, "keep the k most likely tokens; 0 or -1: off (default: generation_config.json)");
  optional_flag(app, "--min-p", f.min_p, "keep tokens with p >= min_p * max p, [0, 1] (default: generation_config.json)");
  optional_flag(app, "--presence-penalty", f.presence_penalty, "OpenAI's presence penalty, [-2, 2] (default 0)");
  optional_flag(app, "--seed", f.seed, "seed of the sampler: the same seed gives the same output (default: random)");
}

engine::SamplingParams sampling_params(const SamplingFlags& f, const std::filesystem::path& model_dir) {
  engine::SamplingParams p = engine::default_sampling(model_dir);
  // The flags as the request fields they mirror, through the server's parser and its ranges.
  server::Json body = server::Json::object();
  if (f.temperature) body["temperature"] = *f.temperature;
  if (f.top_p) body["top_p"] = *f.top_p;
  if (f.top_k) body["top_k"] = *f.top_k;
  if (f.min_p) body["min_p"] = *f.min_p;
  if (f.presence_penalty) body["presence_penalty"] = *f.presence_penalty;
  if (f.seed) body["seed"] = *f.seed;
  try {
    server::parse_distribution(body, p);
  } catch (const server::ApiError& e) {
    std::string flag = "--" + e.param();
    for (char& c : flag)
      if (c == '_') c = '-';
    fail("{}: {}", flag, e.what());
  }
  return p;
}

std::string describe_sampling(const engine::SamplingParams& p) {
  std::string s = p.temperature == 0 ? "greedy" : fmt::format("temperature {:g}", p.temperature);
  if (p.temperature != 0) {
    if (p.top_p < 1) s += fmt::format(", top_p {:g}", p.top_p);
    if (p.top_k > 0) s += fmt::format(", top_k {}", p.top_k);
    if (p.min_p > 0) s += fmt::format(", min_p {:g}", p.min_p);
  }
  if (p.presence_penalty != 0) s += fmt::format(", presence_penalty {:g}", p.presence_penalty);
  if (p.repetition_penalty != 1) s += fmt::format(", repetition_penalty {:g}", p.repetition_penalty);
  if (p.seed) s += fmt::format(", seed {}", int64_t(*p.seed));
  return s;
}

}  // namespace qwen3::tools
