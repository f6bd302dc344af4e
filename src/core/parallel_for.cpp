#include "core/parallel_for.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <system_error>
#include <vector>

#include "core/error.h"

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
    try {
      for (int i = 1; i <= workers; ++i) threads_.emplace_back([this, i] { loop(i); });
    } catch (const std::system_error& e) {
      shutdown();
      throw Error(fmt::format("cannot start {} worker threads: {}", workers, e.what()));
    }
  }
  ~Pool() { shutdown(); }
  int workers() const { return int(threads_.size()); }

  void shutdown() {
    stop_.store(true);
    word_.fetch_add(kGenerationStep);
    word_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void run(int n, void (*job)(void*, int), void* ctx) {
    // job_ and ctx_ are only read by this round's participants, which all finish before run()
    // returns, so they can be plain fields published by the release below.
    job_ = job;
    ctx_ = ctx;
    pending_.store(n - 1, std::memory_order_relaxed);
    const uint64_t w = word_.load(std::memory_order_relaxed);
    word_.store(((w >> kActiveBits) + 1) << kActiveBits | uint64_t(n), std::memory_order_release);
    word_.notify_all();
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
  // word_ = generation << kActiveBits | threads taking part in this round: one atomic, so a worker
  // never pairs one round's generation with another round's thread count.
  static constexpr int kActiveBits = 16;
  static constexpr uint64_t kGenerationStep = uint64_t(1) << kActiveBits;

  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t w;
      for (int spin = 0;; ++spin) {
        w = word_.load(std::memory_order_acquire);
        if (w != seen) break;
        if (spin < kSpin) cpu_relax();
        else word_.wait(seen, std::memory_order_acquire);
      }
      seen = w;
      if (stop_.load()) return;
      if (index < int(w & (kGenerationStep - 1))) {
        job_(ctx_, index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::atomic<uint64_t> word_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  void (*job_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
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
  if (n > kMaxThreads) fail("{} threads requested; at most {} are supported", n, kMaxThreads);
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
