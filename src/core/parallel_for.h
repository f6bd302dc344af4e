// Work splitting over the process's threads. The one place that knows about OpenMP; kernels call
// parallel_for and never see threads. Threads are persistent (OpenMP's pool), nothing is allocated.
#pragma once

#include <cstdint>

namespace qwen3 {

int num_threads();
void set_num_threads(int n);  // n <= 0: one per core
int omp_thread_index();       // index of the calling thread inside a parallel region

// Calls fn(begin, end) on disjoint ranges covering [0, n), split evenly over the threads in chunks
// that are multiples of `grain` (except the last).
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  int threads = num_threads();
  if (threads <= 1 || chunks <= 1) {
    fn(int64_t(0), n);
    return;
  }
  if (chunks < threads) threads = int(chunks);
#pragma omp parallel num_threads(threads)
  {
    int t = omp_thread_index();
    int64_t c0 = chunks * t / threads, c1 = chunks * (t + 1) / threads;
    int64_t b = c0 * grain, e = c1 * grain < n ? c1 * grain : n;
    if (b < e) fn(b, e);
  }
}

}  // namespace qwen3
