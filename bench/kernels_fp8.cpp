// FP8 matmul against bf16 on Qwen3-0.6B / 1.7B layer shapes: weight bytes read per second (the
// ceiling is the memory bandwidth when the weight does not fit in cache), per instruction set.
//   ./build/bench_kernels --benchmark_filter=Fp8 --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace {

using namespace qwen3;
using namespace qwen3::kernels;

// args: isa, format (0 fp8, 1 bf16), rows, cols, tokens
void BM_Fp8VsBf16(benchmark::State& state) {
  const Isa isa = Isa(state.range(0));
  if (!isa_supported(isa)) return state.SkipWithError("ISA not supported here");
  set_active_isa(isa);
  const bool fp8 = state.range(1) == 0;
  const int64_t rows = state.range(2), cols = state.range(3), n = state.range(4);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 0.05f);
  std::vector<float> w(size_t(rows * cols)), x(size_t(n * cols)), y(size_t(n * rows));
  for (auto& v : w) v = nd(rng);
  for (auto& v : x) v = nd(rng);
  std::vector<uint8_t> q(w.size());
  std::vector<float> s(fp8_scale_count(rows, cols));
  std::vector<uint16_t> h(w.size());
  WeightView v{fp8 ? WFormat::FP8 : WFormat::BF16, nullptr, rows, cols};
  if (fp8) {
    quantize_fp8(w.data(), rows, cols, q.data(), s.data());
    v.data = q.data(), v.block_scales = s.data();
  } else {
    for (size_t i = 0; i < w.size(); ++i) h[i] = f32_to_bf16(w[i]);
    v.data = h.data();
  }
  for (auto _ : state) {
    matmul(x.data(), n, v, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = double(rows * cols) * (fp8 ? 1 : 2);
  state.counters["weight_GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(isa_name(isa)) + (fp8 ? " fp8" : " bf16"));
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int isa : {0, 1, 2})
    for (int f : {0, 1})
      for (auto [r, c] : std::vector<std::pair<int, int>>{{6144, 1024}, {1024, 3072}, {12288, 2048}})
        for (int n : {1, 16}) b->Args({isa, f, r, c, n});
}
BENCHMARK(BM_Fp8VsBf16)->Apply(Shapes)->UseRealTime();

}  // namespace
