#include "core/parallel_for.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qwen3 {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 1; i <= workers; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    stop_.store(true);
    generation_.fetch_add(1);
    generation_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return int(threads_.size()); }

  void run(int n, void (*job)(void*, int), void* ctx) {
    job_ = job;
    ctx_ = ctx;
    active_ = n;
    pending_.store(n - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    job(ctx, 0);
    // Wait for the others: spin, then sleep.
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpin) {
        cpu_relax();
      } else {
        int p = pending_.load(std::memory_order_acquire);
        if (p != 0) pending_.wait(p, std::memory_order_acquire);
      }
    }
  }

 private:
  static constexpr int kSpin = 2000;  // a few microseconds of pause instructions, then sleep

  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g;
      for (int spin = 0;; ++spin) {
        g = generation_.load(std::memory_order_acquire);
        if (g != seen) break;
        if (spin < kSpin) cpu_relax();
        else generation_.wait(seen, std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load()) return;
      if (index < active_) {
        job_(ctx_, index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  void (*job_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  int active_ = 0;
};

int g_threads = 0;
std::unique_ptr<Pool> g_pool;
std::mutex g_mutex;

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

}  // namespace

int num_threads() {
  if (g_threads <= 0) g_threads = hardware_threads();
  return g_threads;
}

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_threads = n > 0 ? n : hardware_threads();
  if (g_pool && g_pool->workers() != g_threads - 1) g_pool.reset();
}

void run_on_threads(int n, void (*job)(void*, int), void* ctx) {
  if (n <= 1) {
    job(ctx, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_pool || g_pool->workers() < n - 1) g_pool = std::make_unique<Pool>(std::max(n, num_threads()) - 1);
  }
  g_pool->run(n, job, ctx);
}

}  // namespace qwen3
