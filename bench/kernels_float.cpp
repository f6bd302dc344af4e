// Float-weight matmul benchmarks (f32 / bf16 / f16, and bf16 with bf16 activations) on the
// qwen3-0.6b shapes, at decode (n = 1), a batched decode step (n = 16) and prefill (n = 512), for
// every ISA this CPU runs, with 1 and 2 threads; plus the ceilings they are read against: a
// read-bandwidth probe and the peaks of the FMA, bf16 dot-product (vdpbf16ps) and int8
// dot-product (vpdpbusd) instructions. Counters: GB/s = weight bytes / time (decode is
// memory-bound), GFLOP/s = 2 n rows cols / time (prefill is compute-bound).
//
//   ./build/bench_kernels --benchmark_filter='float|Ceiling' --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
//
// Decode cases rotate through copies of the weights totalling >= 256 MiB, so that every call reads
// them from memory and not from the 32 MiB L3, as a model's forward pass does.
#include <benchmark/benchmark.h>
// GCC 12's intrinsic headers trip its own -Wuninitialized (bug 105593), see cpu/avx512.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/buffer.h"
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
constexpr Shape kShapes[] = {{"qkv", 4096, 1024},
                             {"o_proj", 1024, 2048},
                             {"gate_up", 6144, 1024},
                             {"down", 1024, 3072},
                             {"lm_head", 151936, 1024}};

enum class Fmt { F32, BF16, F16, BF16Dot };
const char* fmt_name(Fmt f) {
  switch (f) {
    case Fmt::F32: return "f32";
    case Fmt::BF16: return "bf16";
    case Fmt::F16: return "f16";
    case Fmt::BF16Dot: return "bf16dot";
  }
  return "?";
}

using Restore = qwen3::bench::RestoreIsaAndThreads;

// grouped: the weights in the row-grouped layout (kernels.h), as a model holds them on AVX-512.
void BM_matmul(benchmark::State& state, Shape s, Fmt f, Isa isa, int64_t n, int threads, bool grouped) {
  Restore restore;
  set_active_isa(isa);
  set_num_threads(threads);
  const WFormat wf = f == Fmt::F32 ? WFormat::F32 : f == Fmt::F16 ? WFormat::F16 : WFormat::BF16;
  const size_t bytes = weight_data_bytes(wf, s.rows, s.cols);
  const size_t copies = n <= 16 ? (size_t(256) << 20) / bytes + 1 : 1;
  // One random copy, repeated: values in [-1, 1), stored in the weight format. 64-byte aligned,
  // as the model's weights are (core/buffer.h): a vector's large allocation starts 16 bytes past
  // a page, and every 64-byte load of it would straddle two cache lines.
  Buffer wbuf(bytes * copies);
  uint8_t* w = wbuf.as<uint8_t>();
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> ud(-1, 1);
  for (size_t i = 0; i < size_t(s.rows * s.cols); ++i) {
    const float v = ud(rng);
    if (wf == WFormat::F32) std::memcpy(&w[4 * i], &v, 4);
    else {
      const uint16_t h = wf == WFormat::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
      std::memcpy(&w[2 * i], &h, 2);
    }
  }
  if (grouped) {
    std::vector<uint8_t> g(bytes);
    to_row_groups(wf, s.rows, s.cols, w, nullptr, g.data(), nullptr);
    std::memcpy(w, g.data(), bytes);
  }
  for (size_t c = 1; c < copies; ++c) std::memcpy(&w[c * bytes], w, bytes);
  std::vector<float> x(size_t(n * s.cols)), y(size_t(n * s.rows));
  for (float& v : x) v = ud(rng);
  const MatmulOptions opts{.bf16_activations = f == Fmt::BF16Dot};
  size_t c = 0;
  for (auto _ : state) {
    WeightView v{wf, &w[c * bytes], s.rows, s.cols};
    v.row_group = grouped ? kRowGroup : 0;
    matmul(x.data(), n, v, y.data(), opts);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    c = c + 1 == copies ? 0 : c + 1;
  }
  state.counters["GB/s"] = benchmark::Counter(double(bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * double(n) * double(s.rows) * double(s.cols), benchmark::Counter::kIsIterationInvariantRate);
}

// --- ceilings ---

// Sums `bytes` from p with AVX2 loads, 8 independent accumulators (integer adds: no FP latency).
__attribute__((target("avx2"))) uint64_t sum_avx2(const uint8_t* p, size_t bytes) {
  __m256i a[8];
  for (auto& v : a) v = _mm256_setzero_si256();
  for (size_t i = 0; i + 256 <= bytes; i += 256)
    for (int k = 0; k < 8; ++k)
      a[k] = _mm256_add_epi64(a[k], _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32 * k)));
  for (int k = 1; k < 8; ++k) a[0] = _mm256_add_epi64(a[0], a[k]);
  alignas(32) uint64_t r[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(r), a[0]);
  return r[0] + r[1] + r[2] + r[3];
}

// Read bandwidth: a 1 GiB buffer summed by `threads` threads, each over one contiguous half.
void BM_CeilingReadBandwidth(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx2")) return state.SkipWithError("needs AVX2");
  Restore restore;
  const int threads = int(state.range(0));
  set_num_threads(threads);
  const size_t bytes = size_t(1) << 30;
  struct Free { void operator()(uint8_t* p) const { std::free(p); } };
  std::unique_ptr<uint8_t, Free> buf(static_cast<uint8_t*>(std::aligned_alloc(4096, bytes)));
  std::memset(buf.get(), 1, bytes);
  const int64_t chunks = 1024;
  const size_t chunk = bytes / chunks;
  for (auto _ : state) {
    uint64_t sums[kMaxThreads] = {};
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      sums[c0 * threads / chunks] += sum_avx2(buf.get() + size_t(c0) * chunk, size_t(c1 - c0) * chunk);
    });
    benchmark::DoNotOptimize(sums);
  }
  state.counters["GB/s"] = benchmark::Counter(double(bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_CeilingReadBandwidth)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// f32 FMA peak: 16 independent chains of 512-bit FMAs (latency x throughput covered), per thread.
__attribute__((target("avx512f"))) float fma_chains(int64_t iters) {
  __m512 acc[16];
  for (int k = 0; k < 16; ++k) acc[k] = _mm512_set1_ps(float(k));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 16; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  for (int k = 1; k < 16; ++k) acc[0] = _mm512_add_ps(acc[0], acc[k]);
  return _mm512_reduce_add_ps(acc[0]);
}

// Runs `chains(1 << 20)` on each of `threads` threads per iteration and reports `ops_per_iter`
// operations per chain iteration and thread under `counter`; skipped unless `supported` (the CPU
// has `feature`).
template <typename R>
void run_peak(benchmark::State& state, bool supported, const char* feature, R (*chains)(int64_t),
              double ops_per_iter, const char* counter) {
  if (!supported) return state.SkipWithError((std::string("needs ") + feature).c_str());
  Restore restore;
  const int threads = int(state.range(0));
  set_num_threads(threads);
  const int64_t iters = 1 << 20;
  for (auto _ : state) {
    R r[kMaxThreads] = {};
    parallel_for(threads, 1, [&](int64_t t0, int64_t) { r[t0] = chains(iters); });
    benchmark::DoNotOptimize(r);
  }
  state.counters[counter] =
      benchmark::Counter(1e-9 * ops_per_iter * double(iters) * threads, benchmark::Counter::kIsIterationInvariantRate);
}

// 16 chains x 16 lanes x 2 flops per iteration per thread.
void BM_CeilingFmaPeak(benchmark::State& state) { run_peak(state, __builtin_cpu_supports("avx512f"), "AVX-512", fma_chains, 512.0, "GFLOP/s"); }
BENCHMARK(BM_CeilingFmaPeak)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// bf16 dot-product peak: the same 16 chains with vdpbf16ps (16 lanes x 2 products each), per
// thread. Against BM_CeilingFmaPeak it says what an exact float32-activation matmul can gain from
// bf16 dot products: each float32 activation needs 3 bf16 parts to be represented exactly (2 parts
// leave a relative error up to 2^-17), so exact needs 3 (or 2) vdpbf16ps where bf16 activations
// need 1.
__attribute__((target("avx512f,avx512bf16"))) float bf16dot_chains(int64_t iters) {
  __m512 acc[16];
  for (int k = 0; k < 16; ++k) acc[k] = _mm512_set1_ps(float(k));
  const __m512bh a = __m512bh(_mm512_set1_epi16(0x3f80)), b = __m512bh(_mm512_set1_epi16(0x3a83));
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 16; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
  for (int k = 1; k < 16; ++k) acc[0] = _mm512_add_ps(acc[0], acc[k]);
  return _mm512_reduce_add_ps(acc[0]);
}

// 16 chains x 16 lanes x 2 products x 2 flops per iteration per thread.
void BM_CeilingBf16DotPeak(benchmark::State& state) {
  run_peak(state, __builtin_cpu_supports("avx512bf16"), "AVX-512 BF16", bf16dot_chains, 1024.0, "GFLOP/s");
}
BENCHMARK(BM_CeilingBf16DotPeak)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// int8 dot-product peak (AVX-512 VNNI vpdpbusd: 16 lanes x 4 products each), per thread: the
// ceiling of the q8 / q4 kernels, whose activations are quantized to int8. In "GOP/s" (2 ops per
// product, as GFLOP/s above).
__attribute__((target("avx512f,avx512vnni"))) int vnni_chains(int64_t iters) {
  __m512i acc[16];
  for (int k = 0; k < 16; ++k) acc[k] = _mm512_set1_epi32(k);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 16; ++k) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
  for (int k = 1; k < 16; ++k) acc[0] = _mm512_add_epi32(acc[0], acc[k]);
  return _mm512_reduce_add_epi32(acc[0]);
}

// 16 chains x 16 lanes x 4 products x 2 ops per iteration per thread.
void BM_CeilingVnniPeak(benchmark::State& state) { run_peak(state, __builtin_cpu_supports("avx512vnni"), "AVX-512 VNNI", vnni_chains, 2048.0, "GOP/s"); }
BENCHMARK(BM_CeilingVnniPeak)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// The grid: shape x format x ISA x n x threads; n = 16 is a batched decode step of 16 sequences
// (weights from memory, as n = 1). No prefill on lm_head (a forward pass computes logits only for
// the rows asked, i.e. decode-sized).
const bool registered = [] {
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Portable}) {
    if (!isa_supported(isa)) continue;
    for (const Shape& s : kShapes)
      for (Fmt f : {Fmt::BF16, Fmt::F16, Fmt::F32, Fmt::BF16Dot})
        for (int64_t n : {1, 16, 512})
          for (int threads : {1, 2})
            for (bool grouped : {false, true}) {
              if (n > 16 && std::string(s.name) == "lm_head") continue;
              if (f == Fmt::BF16Dot && isa != Isa::Avx512) continue;
              if (grouped && isa != Isa::Avx512) continue;  // the layout models use on AVX-512 only
              const std::string name = std::string("float/") + s.name + "/" + fmt_name(f) + (grouped ? "-rows8" : "") +
                                       "/" + std::string(isa_name(isa)) + "/n:" + std::to_string(n) +
                                       "/threads:" + std::to_string(threads);
              benchmark::RegisterBenchmark(name.c_str(), BM_matmul, s, f, isa, n, threads, grouped)
                  ->UseRealTime()
                  ->Unit(benchmark::kMicrosecond);
            }
  }
  return true;
}();

}  // namespace
