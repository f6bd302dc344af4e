// Work splitting over a persistent pool of threads (one per core by default). The one place that
// knows about threads; kernels call parallel_for and never see them. Nothing is allocated per call.
//
// Workers spin briefly for the next job and then sleep (futex through std::atomic::wait), so a
// forward pass's hundreds of small parallel steps do not pay a wake-up each, and an oversubscribed
// machine is not burnt by spinning.
#pragma once

#include <atomic>
#include <cstdint>

namespace qwen3 {

constexpr int kMaxThreads = 1024;
int num_threads();
void set_num_threads(int n);  // n <= 0: one per core; n > kMaxThreads: qwen3::Error

// Runs job(ctx, t) for t in [0, n) on n threads (the caller is thread 0) and returns when all are done.
// Not reentrant: a job must not call run_on_threads.
void run_on_threads(int n, void (*job)(void* ctx, int t), void* ctx);

// Calls fn(begin, end) on disjoint ranges covering [0, n), in chunks that are multiples of `grain`
// (except the last), claimed by the threads as they come free: each claim takes half of what is
// left divided by the threads (guided scheduling), so the first ranges are long and contiguous and
// the last ones short. A thread that starts late (a worker waking up) or is descheduled (another
// process, the server's I/O threads on the same cores) holds up only its current range instead of
// a fixed share of every call. Which thread runs a range never changes what it computes.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  int threads = num_threads();
  if (threads <= 1 || chunks <= 1) {
    fn(int64_t(0), n);
    return;
  }
  if (chunks < threads) threads = int(chunks);
  struct Ctx {
    Fn* fn;
    int64_t n, grain, chunks;
    int threads;
    std::atomic<int64_t> next{0};  // the first chunk not claimed yet
  } ctx{&fn, n, grain, chunks, threads};
  run_on_threads(
      threads,
      [](void* p, int) {
        auto& c = *static_cast<Ctx*>(p);
        int64_t c0 = c.next.load(std::memory_order_relaxed);
        while (c0 < c.chunks) {
          int64_t take = (c.chunks - c0) / (2 * c.threads);
          if (take < 1) take = 1;
          if (!c.next.compare_exchange_weak(c0, c0 + take, std::memory_order_relaxed)) continue;
          const int64_t b = c0 * c.grain, e = (c0 + take) * c.grain < c.n ? (c0 + take) * c.grain : c.n;
          (*c.fn)(b, e);
          c0 = c.next.load(std::memory_order_relaxed);
        }
      },
      &ctx);
}

}  // namespace qwen3
