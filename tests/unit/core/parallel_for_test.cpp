#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/parallel_for.h"

namespace qwen3 {
namespace {

TEST(ParallelFor, CoversEveryIndexOnceInGrainMultiples) {
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    for (int64_t n : {0, 1, 5, 16, 17, 1000, 4097})
      for (int64_t grain : {1, 4, 16}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad_start{0};
        parallel_for(n, grain, [&](int64_t b, int64_t e) {
          if (b % grain) bad_start++;
          for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << threads << " " << n << " " << grain;
        EXPECT_EQ(bad_start.load(), 0);
      }
  }
  set_num_threads(0);
}

TEST(ParallelFor, UsesSeveralThreadsAndManyRoundsWork) {
  set_num_threads(2);
  // Each range waits (up to 10 s) for the other to start: both threads must take part. Ranges are
  // claimed as threads come free, so without the wait the caller could run both before the worker
  // wakes.
  std::vector<std::thread::id> ids(2);
  std::atomic<int> started{0};
  parallel_for(2, 1, [&](int64_t b, int64_t) {
    ids[size_t(b)] = std::this_thread::get_id();
    started++;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  });
  EXPECT_EQ(started.load(), 2);
  EXPECT_NE(ids[0], ids[1]);
  // Many small rounds back to back (as a forward pass does): no lost wake-ups, no deadlock.
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 20000; ++round) parallel_for(4, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 80000);
  set_num_threads(0);
}

TEST(ParallelFor, AStalledThreadHoldsUpOnlyItsOwnRange) {
  // The thread that claims the first range (a quarter of 64 chunks over 2 threads) stalls for
  // 300 ms, as a descheduled thread would: the other one takes every other chunk meanwhile.
  set_num_threads(2);
  std::mutex m;
  std::map<std::thread::id, int64_t> done;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  parallel_for(64, 1, [&](int64_t b, int64_t e) {
    if (b == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::lock_guard<std::mutex> lock(m);
    done[std::this_thread::get_id()] += e - b;
    ranges.push_back({b, e});
  });
  ASSERT_EQ(done.size(), 2u);
  int64_t total = 0, first = 0;
  for (const auto& r : ranges) {
    total += r.second - r.first;
    if (r.first == 0) {
      EXPECT_EQ(r.second, 16);
    }
  }
  EXPECT_EQ(total, 64);
  // The ranges in the order they finished: the first range last, everything else before it.
  EXPECT_EQ(ranges.back().first, 0);
  for (const auto& [id, n] : done) first = std::max(first, n);
  EXPECT_EQ(first, 48);
  set_num_threads(0);
}

}  // namespace
}  // namespace qwen3
