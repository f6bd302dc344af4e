// Sampling one row of Qwen3's 151,936 logits (engine/sampler.h): what every generated token costs
// after the forward pass, per sequence, on one thread. Logits are normal(0, sigma): sigma 2 gives
// the flat rows of the random-weight test models, sigma 6 a peaked row like a trained model's
// (its top 20 hold most of the mass). Configurations: greedy; OpenAI's defaults (temperature 1);
// Qwen3's generation_config.json (temperature 0.6, top_k 20, top_p 0.95); top_p 0.95 alone (a
// common vLLM setting); greedy with logprobs and 5 alternatives (what the server's logprobs cost).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/sampler.h"

namespace {

using qwen3::engine::Rng;
using qwen3::engine::SamplerScratch;
using qwen3::engine::SamplingParams;

constexpr size_t kVocab = 151936;

std::vector<float> logits(double sigma) {
  std::mt19937 g(7);
  std::normal_distribution<float> d(0.0f, float(sigma));
  std::vector<float> l(kVocab);
  for (float& v : l) v = d(g);
  return l;
}

void BM_sample(benchmark::State& state, SamplingParams p, double sigma) {
  const std::vector<float> l = logits(sigma);
  Rng rng(1);
  SamplerScratch s;
  for (auto _ : state) benchmark::DoNotOptimize(qwen3::engine::sample(l, p, {}, {}, rng, s).token);
  state.counters["rows/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}

SamplingParams params(double temperature, int64_t top_k, double top_p, bool logprobs = false, int top_logprobs = 0) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.logprobs = logprobs;
  p.top_logprobs = top_logprobs;
  return p;
}

void register_all() {
  for (double sigma : {2.0, 6.0}) {
    const std::string s = sigma == 2.0 ? "/flat" : "/peaked";
    benchmark::RegisterBenchmark(("sample/greedy" + s).c_str(), BM_sample, params(0, 0, 1), sigma);
    benchmark::RegisterBenchmark(("sample/greedy_logprobs5" + s).c_str(), BM_sample, params(0, 0, 1, true, 5), sigma);
    benchmark::RegisterBenchmark(("sample/t1" + s).c_str(), BM_sample, params(1, 0, 1), sigma);
    benchmark::RegisterBenchmark(("sample/t0.6_k20_p0.95" + s).c_str(), BM_sample, params(0.6, 20, 0.95), sigma);
    benchmark::RegisterBenchmark(("sample/t1_p0.95" + s).c_str(), BM_sample, params(1, 0, 0.95), sigma);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
