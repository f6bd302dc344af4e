#include "tools/bench_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <sys/mman.h>

#include "core/error.h"
#include "core/parallel_for.h"

namespace qwen3::tools {
namespace {

// 32-byte vectors through GCC's vector extensions: with target("avx2") each is one ymm load.
typedef long long v4i __attribute__((vector_size(32)));

// Sum (xor) of [p, p + n) with 8 independent accumulators; n is a multiple of 8 vectors.
template <int>
__attribute__((always_inline)) inline long long read_slice(const v4i* p, size_t n) {
  v4i a0{}, a1{}, a2{}, a3{}, a4{}, a5{}, a6{}, a7{};
  for (size_t i = 0; i < n; i += 8) {
    a0 ^= p[i + 0]; a1 ^= p[i + 1]; a2 ^= p[i + 2]; a3 ^= p[i + 3];
    a4 ^= p[i + 4]; a5 ^= p[i + 5]; a6 ^= p[i + 6]; a7 ^= p[i + 7];
  }
  v4i s = a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
  return s[0] ^ s[1] ^ s[2] ^ s[3];
}

__attribute__((target("avx2"))) long long read_slice_avx2(const v4i* p, size_t n) { return read_slice<1>(p, n); }
long long read_slice_plain(const v4i* p, size_t n) { return read_slice<0>(p, n); }

struct Ctx {
  const v4i* data;
  size_t vectors;  // total, a multiple of 8 * threads
  int threads, passes;
  bool avx2;
  long long sink[kMaxThreads];
};

void job(void* p, int t) {
  auto& c = *static_cast<Ctx*>(p);
  const size_t per = c.vectors / size_t(c.threads);
  const v4i* s = c.data + per * size_t(t);
  long long acc = 0;
  for (int k = 0; k < c.passes; ++k) acc ^= c.avx2 ? read_slice_avx2(s, per) : read_slice_plain(s, per);
  c.sink[t] = acc;
}

}  // namespace

double measure_read_bandwidth(const BandwidthOptions& o) {
  const int threads = num_threads();
  const size_t unit = 8 * sizeof(v4i) * size_t(threads);
  const size_t bytes = std::max(unit, o.buffer_bytes / unit * unit);
  // 2 MiB aligned and backed by huge pages where the kernel allows: with 4 KiB pages the page
  // walks of a 1 GiB stream cost a measurable part of the bandwidth.
  const size_t huge = size_t(2) << 20;
  const size_t alloc = (bytes + huge - 1) / huge * huge;
  void* mem = std::aligned_alloc(huge, alloc);
  if (!mem) fail("bandwidth probe: cannot allocate {} MiB", bytes >> 20);
  madvise(mem, alloc, MADV_HUGEPAGE);
  // Each thread first-touches the slice it will read (pages land on its node on NUMA machines).
  parallel_for(int64_t(bytes / 4096), 1, [&](int64_t b, int64_t e) {
    std::memset(static_cast<char*>(mem) + b * 4096, int(b & 0xff) | 1, size_t(e - b) * 4096);
  });
  auto* ctx = new Ctx{static_cast<const v4i*>(mem), bytes / sizeof(v4i), threads, std::max(1, o.passes),
                      __builtin_cpu_supports("avx2") != 0, {}};
  double best = 0;
  long long sink = 0;
  for (int r = 0; r < std::max(1, o.runs); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run_on_threads(threads, job, ctx);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (int t = 0; t < threads; ++t) sink ^= ctx->sink[t];
    if (s > 0) best = std::max(best, double(bytes) * ctx->passes / s / 1e9);
  }
  delete ctx;
  std::free(mem);
  // Keep the reads observable (the sink depends on every byte read).
  static volatile long long keep;
  keep = sink;
  (void)keep;
  return best;
}

}  // namespace qwen3::tools
