// q8 / q4 matmul benchmarks against bf16 on the qwen3-0.6b shapes, at decode (n = 1), a small
// batch (n = 16) and prefill (n = 512), for AVX-512 and AVX2, with 2 threads. Counters: GB/s =
// weight bytes (with the q8 / q4 block scales) / time (decode is memory-bound), GFLOP/s =
// 2 n rows cols / time (prefill is compute-bound); read q8 / q4 against bf16 in the same run.
//
//   ./build/bench_kernels --benchmark_filter='quant/' --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// Decode cases rotate through copies of the weights totalling >= 256 MiB, so that every call reads
// them from memory and not from the 32 MiB L3, as a model's forward pass does. The time includes
// the activation quantization (part of every q8 / q4 matmul call). Under AVX-512, q8 / q4 run in both
// layouts: row-major (`q8`, `q4`) and the row-grouped one a loaded model uses (`q8-rows8`,
// `q4-rows8`; kernels.h, WeightView::row_group).
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"
#include "kernels_bench_util.h"

namespace {

using namespace qwen3;
using namespace qwen3::kernels;

struct Shape {
  const char* name;
  int64_t rows, cols;
};
constexpr Shape kShapes[] = {{"qkv", 4096, 1024}, {"gate_up", 6144, 1024}, {"down", 1024, 3072}};

using Restore = qwen3::bench::RestoreIsaAndThreads;

void BM_quant(benchmark::State& state, Shape s, WFormat wf, bool rows8, Isa isa, int64_t n, int threads) {
  Restore restore;
  set_active_isa(isa);
  set_num_threads(threads);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 0.05f);
  std::vector<float> src(size_t(s.rows * s.cols));
  for (float& v : src) v = nd(rng);
  const size_t data_bytes = weight_data_bytes(wf, s.rows, s.cols), nscales = weight_scale_count(wf, s.rows, s.cols);
  const size_t bytes = data_bytes + nscales * 2;
  const size_t copies = n < 16 ? (size_t(256) << 20) / bytes + 1 : 1;
  std::vector<uint8_t> w(data_bytes * copies);
  std::vector<uint16_t> sc(nscales * copies);
  if (wf == WFormat::BF16) {
    for (size_t i = 0; i < src.size(); ++i) {
      const uint16_t h = f32_to_bf16(src[i]);
      std::memcpy(&w[2 * i], &h, 2);
    }
  } else {
    quantize_weights(wf, src.data(), s.rows, s.cols, w.data(), sc.data());
    if (rows8) {
      const std::vector<uint8_t> d(w.begin(), w.begin() + ptrdiff_t(data_bytes));
      const std::vector<uint16_t> ds(sc.begin(), sc.begin() + ptrdiff_t(nscales));
      to_row_groups(wf, s.rows, s.cols, d.data(), ds.data(), w.data(), sc.data());
    }
  }
  for (size_t c = 1; c < copies; ++c) {
    std::memcpy(&w[c * data_bytes], w.data(), data_bytes);
    std::memcpy(&sc[c * nscales], sc.data(), nscales * 2);
  }
  std::vector<float> x(size_t(n * s.cols)), y(size_t(n * s.rows));
  std::normal_distribution<float> xd(0, 1);
  for (float& v : x) v = xd(rng);
  size_t c = 0;
  for (auto _ : state) {
    WeightView v{wf, &w[c * data_bytes], s.rows, s.cols, nscales ? &sc[c * nscales] : nullptr};
    v.row_group = rows8 ? kRowGroup : 0;
    matmul(x.data(), n, v, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    c = c + 1 == copies ? 0 : c + 1;
  }
  state.counters["GB/s"] = benchmark::Counter(double(bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * double(n) * double(s.rows) * double(s.cols), benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
  for (Isa isa : {Isa::Avx512, Isa::Avx2}) {
    if (!isa_supported(isa)) continue;
    for (const Shape& s : kShapes)
      for (auto [f, rows8] : {std::pair{WFormat::Q8, false}, {WFormat::Q8, true}, {WFormat::Q4, false},
                              {WFormat::Q4, true}, {WFormat::BF16, false}})
        for (int64_t n : {1, 4, 16, 512}) {
          if (rows8 && isa != Isa::Avx512) continue;  // the layout of the AVX-512 kernels
          const int threads = 2;
          const std::string name = std::string("quant/") + s.name + "/" + std::string(format_name(f)) +
                                   (rows8 ? "-rows8/" : "/") +
                                   std::string(isa_name(isa)) + "/n:" + std::to_string(n) +
                                   "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), BM_quant, s, f, rows8, isa, n, threads)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
  }
  return true;
}();

}  // namespace
