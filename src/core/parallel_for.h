// Work splitting over a persistent pool of threads (one per core by default). The one place that
// knows about threads; kernels call parallel_for and never see them. Nothing is allocated per call.
//
// Workers spin briefly for the next job and then sleep (futex through std::atomic::wait), so a
// forward pass's hundreds of small parallel steps do not pay a wake-up each, and an oversubscribed
// machine is not burnt by spinning.
#pragma once

#include <cstdint>

namespace qwen3 {

constexpr int kMaxThreads = 1024;
int num_threads();
void set_num_threads(int n);  // n <= 0: one per core; n > kMaxThreads: qwen3::Error

// Runs job(ctx, t) for t in [0, n) on n threads (the caller is thread 0) and returns when all are done.
// Not reentrant: a job must not call run_on_threads.
void run_on_threads(int n, void (*job)(void* ctx, int t), void* ctx);

// Calls fn(begin, end) on disjoint ranges covering [0, n), split evenly over the threads in chunks
// that are multiples of `grain` (except the last).
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
  } ctx{&fn, n, grain, chunks, threads};
  run_on_threads(
      threads,
      [](void* p, int t) {
        auto& c = *static_cast<Ctx*>(p);
        const int64_t c0 = c.chunks * t / c.threads, c1 = c.chunks * (t + 1) / c.threads;
        const int64_t b = c0 * c.grain, e = c1 * c.grain < c.n ? c1 * c.grain : c.n;
        if (b < e) (*c.fn)(b, e);
      },
      &ctx);
}

}  // namespace qwen3
