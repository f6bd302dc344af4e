// The MPI communicator, run under mpirun (ctest parallel_mpi: `mpirun -n 3 test_parallel_mpi`): the all-reduce gives, on every rank, exactly the
// rank-order sum ((x0 + x1) + x2) for every length, on both of its paths (all-gather below 65,536
// floats, reduce-scatter above), so results do not depend on how many rows are reduced together;
// gather with uneven counts, broadcasts (also long ones), all_gather.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "parallel/communicator.h"

namespace qwen3 {
namespace {

class FinalizeAtExit : public ::testing::Environment {
 public:
  void TearDown() override { finalize_world(); }
};
const auto* env = ::testing::AddGlobalTestEnvironment(new FinalizeAtExit);

// Values that round differently depending on the order they are added in.
float value(int rank, int64_t i) { return float(std::sin(double(i) * 0.37 + rank) * std::pow(10.0, double((i + rank) % 7) - 3)); }

TEST(MpiCommunicator, AllReduceIsTheRankOrderSum) {
  ASSERT_TRUE(launched_tensor_parallel()) << "run under mpirun -n 2 or more";
  Communicator& c = world();
  ASSERT_STREQ(c.backend(), "MPI");
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(65536), int64_t(65537), int64_t(200003)}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[size_t(i)] = value(c.rank(), i);
    c.all_reduce_sum(x.data(), n);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      float want = value(0, i);
      for (int r = 1; r < c.size(); ++r) want += value(r, i);
      bad += std::memcmp(&want, &x[size_t(i)], 4) != 0;
    }
    EXPECT_EQ(bad, 0) << "n = " << n << " on rank " << c.rank();
  }
}

TEST(MpiCommunicator, GatherBroadcastAllGather) {
  ASSERT_TRUE(launched_tensor_parallel()) << "run under mpirun -n 2 or more";
  Communicator& c = world();
  const int P = c.size();
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (int r = 0; r < P; ++r) counts.push_back(r + 1), total += r + 1;
  std::vector<float> mine(size_t(c.rank() + 1), float(c.rank()));
  std::vector<float> all(size_t(total), -1.0f);
  c.gather(mine.data(), counts, c.rank() == 0 ? all.data() : nullptr);
  if (c.rank() == 0) {
    size_t k = 0;
    for (int r = 0; r < P; ++r)
      for (int i = 0; i <= r; ++i) EXPECT_EQ(all[k++], float(r));
  }
  for (size_t n : {size_t(0), size_t(7), size_t(3) << 20}) {
    std::vector<std::byte> msg;
    if (c.rank() == 0)
      for (size_t i = 0; i < n; ++i) msg.push_back(std::byte(i * 31));
    if (n == 7) c.broadcast_idle(msg);  // the workers' polling wait (rank 0 sends as usual)
    else c.broadcast(msg);
    ASSERT_EQ(msg.size(), n);
    for (size_t i = 0; i < n; i += 4097) EXPECT_EQ(msg[i], std::byte(i * 31));
  }
  const auto names = c.all_gather(std::string(size_t(c.rank()), 'x'));
  ASSERT_EQ(int(names.size()), P);
  for (int r = 0; r < P; ++r) EXPECT_EQ(names[size_t(r)], std::string(size_t(r), 'x'));
  c.barrier();
}

}  // namespace
}  // namespace qwen3
