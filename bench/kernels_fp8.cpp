// FP8 matmul against bf16 and q8 on Qwen3-0.6B / 1.7B layer shapes: weight bytes read per second
// (the ceiling is the memory bandwidth when the weight does not fit in cache), per instruction set,
// with 1 and 2 threads. On a shared machine, read the CPU column of the 1-thread cases (time the
// benchmark thread ran, preemption excluded).
//   ./build/bench_kernels --benchmark_filter='Fp8VsBf16/2/[02]/' --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// Decode cases (n = 1) rotate through copies of the weights totalling >= 256 MiB, so that every
// call reads them from memory and not from the 32 MiB L3, as a model's forward pass does; the
// n = 16 and 512 (prefill) cases reuse one copy (compute-bound), and so does the 512 x 1024 shape, which stays in L2:
// a probe of the kernel's own speed, with memory out of the way. The q8 rows read fp8/q8 per shape and ISA.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace {

using namespace qwen3;
using namespace qwen3::kernels;

enum Fmt { kFp8 = 0, kBf16 = 1, kQ8 = 2 };
const char* fmt_label(int f) { return f == kFp8 ? " fp8" : f == kBf16 ? " bf16" : " q8"; }

// args: isa, format (0 fp8, 1 bf16, 2 q8), rows, cols, tokens, threads
void BM_Fp8VsBf16(benchmark::State& state) {
  const Isa isa = Isa(state.range(0));
  if (!isa_supported(isa)) return state.SkipWithError("ISA not supported here");
  const Isa saved = active_isa();
  const int saved_threads = num_threads();
  set_active_isa(isa);
  set_num_threads(int(state.range(5)));
  const int f = int(state.range(1));
  const int64_t rows = state.range(2), cols = state.range(3), n = state.range(4);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 0.05f);
  std::vector<float> w(size_t(rows * cols)), x(size_t(n * cols)), y(size_t(n * rows));
  for (auto& v : w) v = nd(rng);
  for (auto& v : x) v = nd(rng);
  // One copy of data (and of the scales), repeated `copies` times.
  size_t data_bytes = 0, scale_bytes = 0;
  std::vector<uint8_t> d0, s0;
  if (f == kFp8) {
    data_bytes = size_t(rows * cols), scale_bytes = fp8_scale_count(rows, cols) * 4;
    d0.resize(data_bytes), s0.resize(scale_bytes);
    quantize_fp8(w.data(), rows, cols, d0.data(), reinterpret_cast<float*>(s0.data()));
  } else if (f == kBf16) {
    data_bytes = size_t(rows * cols) * 2;
    d0.resize(data_bytes);
    for (size_t i = 0; i < w.size(); ++i) {
      const uint16_t h = f32_to_bf16(w[i]);
      std::memcpy(&d0[2 * i], &h, 2);
    }
  } else {
    data_bytes = weight_data_bytes(WFormat::Q8, rows, cols), scale_bytes = weight_scale_count(WFormat::Q8, rows, cols) * 2;
    d0.resize(data_bytes), s0.resize(scale_bytes);
    quantize_weights(WFormat::Q8, w.data(), rows, cols, d0.data(), reinterpret_cast<uint16_t*>(s0.data()));
  }
  const size_t stride = (data_bytes + scale_bytes + 4095) / 4096 * 4096;
  const size_t copies = n < 4 && rows * cols > (1 << 20) ? (size_t(256) << 20) / stride + 1 : 1;
  std::vector<uint8_t> buf(stride * copies + 64);
  uint8_t* base = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
  for (size_t c = 0; c < copies; ++c) {
    std::memcpy(base + c * stride, d0.data(), data_bytes);
    if (scale_bytes) std::memcpy(base + c * stride + data_bytes, s0.data(), scale_bytes);
  }
  const WFormat wf = f == kFp8 ? WFormat::FP8 : f == kBf16 ? WFormat::BF16 : WFormat::Q8;
  size_t c = 0;
  for (auto _ : state) {
    uint8_t* p = base + c * stride;
    WeightView v{wf, p, rows, cols};
    if (f == kFp8) v.block_scales = reinterpret_cast<const float*>(p + data_bytes);
    if (f == kQ8) v.scales = reinterpret_cast<const uint16_t*>(p + data_bytes);
    matmul(x.data(), n, v, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    c = c + 1 == copies ? 0 : c + 1;
  }
  set_active_isa(saved);
  set_num_threads(saved_threads);
  // Bytes per weight: fp8 1, bf16 2, q8 1.0625 (scales included for q8 and fp8).
  const double bytes = double(data_bytes + scale_bytes);
  state.counters["weight_GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(isa_name(isa)) + fmt_label(f));
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int isa : {0, 1, 2})
    for (int f : {kFp8, kQ8, kBf16})
      for (auto [r, c] : std::vector<std::pair<int, int>>{{6144, 1024}, {1024, 3072}, {12288, 2048}, {512, 1024}})
        for (int n : {1, 16, 512})
          for (int threads : {1, 2})
            if (n < 512 || (threads == 1 && r * c <= (6 << 20))) b->Args({isa, f, r, c, n, threads});
}
BENCHMARK(BM_Fp8VsBf16)->Apply(Shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
