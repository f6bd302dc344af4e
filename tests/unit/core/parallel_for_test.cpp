#include <gtest/gtest.h>

#include <atomic>
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
  std::atomic<int> distinct{0};
  std::vector<std::thread::id> ids(2);
  parallel_for(2, 1, [&](int64_t b, int64_t) { ids[size_t(b)] = std::this_thread::get_id(); });
  EXPECT_NE(ids[0], ids[1]);
  // Many small rounds back to back (as a forward pass does): no lost wake-ups, no deadlock.
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 20000; ++round) parallel_for(4, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 80000);
  (void)distinct;
  set_num_threads(0);
}

}  // namespace
}  // namespace qwen3
