// Paged attention, one layer of Qwen3-0.6B (16 query heads, 8 KV heads, head_dim 128, pages of
// 16), per instruction set and KV dtype: decode (T = 1) at a given depth, and a prefill chunk.
// Reports the K/V bytes read per second: decode streams the context's K and V once, so against the
// machine's read bandwidth this says how close to memory-bound it runs.
//   ./build/bench_kernels --benchmark_filter=Attention --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <numeric>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/kv_dtype.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

constexpr int64_t kHq = 16, kHkv = 8, kD = 128, kPage = 16;

void run(benchmark::State& st, Isa isa, KvDType dt, int64_t T) {
  if (!isa_supported(isa)) {
    st.SkipWithError("ISA not supported on this CPU");
    return;
  }
  const Isa saved = active_isa();
  const int saved_threads = num_threads();
  set_active_isa(isa);
  set_num_threads(int(st.range(1)));
  const int64_t depth = st.range(0), len = depth + T, pages = (len + kPage - 1) / kPage;
  std::mt19937 rng(1);
  std::vector<int32_t> table(static_cast<size_t>(pages));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  const int64_t heads = pages * kPage * kHkv;
  const size_t n = size_t(heads * kD), hb = kv_head_bytes(dt, kD);
  std::vector<float> src(n);
  std::normal_distribution<float> nd(0, 1);
  for (auto& x : src) x = nd(rng);
  std::vector<unsigned char> k(size_t(heads) * hb), v(size_t(heads) * hb);
  store_kv(src.data(), heads, kD, dt, k.data());
  for (auto& x : src) x = nd(rng);
  store_kv(src.data(), heads, kD, dt, v.data());
  std::vector<float> q(size_t(T * kHq * kD)), out(q.size());
  for (auto& x : q) x = nd(rng);
  const std::vector<AttentionSeq> seqs = {{.row0 = 0, .T = T, .pos0 = depth, .block_table = table.data()}};
  const PagedAttention a{.q = q.data(), .q_stride = kHq * kD, .out = out.data(), .num_heads = kHq,
                         .num_kv_heads = kHkv, .head_dim = kD, .scale = 0.0883883f, .kv_dtype = dt,
                         .k = k.data(), .v = v.data(), .page_size = kPage, .seqs = seqs};
  for (auto _ : st) {
    attention(a);
    benchmark::DoNotOptimize(out.data());
  }
  // K and V of every position of the context, read once per call (decode); prefill rereads them
  // from cache, so for it this is an effective, not a memory, rate.
  st.SetBytesProcessed(int64_t(st.iterations()) * 2 * len * kHkv * int64_t(hb));
  set_active_isa(saved);
  set_num_threads(saved_threads);
}

// {depth, threads}
void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"depth", "threads"});
  for (int64_t depth : {16, 512, 2048, 8192})
    for (int64_t threads : {1, 2}) b->Args({depth, threads});
  b->UseRealTime();
}

#define QWEN3_ATTN_BENCH(isa, dt, T)                                                                              \
  BENCHMARK_CAPTURE(run, isa##_##dt##_T##T, Isa::isa, KvDType::dt, T)->Apply(args)
QWEN3_ATTN_BENCH(Avx512, BF16, 1);
QWEN3_ATTN_BENCH(Avx512, Q8, 1);
QWEN3_ATTN_BENCH(Avx512, FP8, 1);
QWEN3_ATTN_BENCH(Avx512, Q8Head, 1);
QWEN3_ATTN_BENCH(Avx2, Q8, 1);
QWEN3_ATTN_BENCH(Avx512, F32, 1);
QWEN3_ATTN_BENCH(Avx512, F16, 1);
QWEN3_ATTN_BENCH(Avx2, BF16, 1);
QWEN3_ATTN_BENCH(Portable, BF16, 1);
QWEN3_ATTN_BENCH(Avx512, BF16, 64);
QWEN3_ATTN_BENCH(Avx512, Q8, 64);
#undef QWEN3_ATTN_BENCH

}  // namespace
}  // namespace qwen3::kernels
