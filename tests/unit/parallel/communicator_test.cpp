// The single-process communicator (the MPI one: tests/mpi/communicator_mpi_test.cpp, under mpirun).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "parallel/communicator.h"

namespace qwen3 {
namespace {

TEST(Communicator, SingleProcessWhenNotLaunched) {
  ASSERT_FALSE(launched_tensor_parallel()) << "run without mpirun";
  Communicator& c = world();
  EXPECT_EQ(c.size(), 1);
  EXPECT_EQ(c.rank(), 0);
  EXPECT_STREQ(c.backend(), "single process");
  std::vector<float> x{1.5f, -2.0f};
  c.all_reduce_sum(x.data(), 2);
  EXPECT_EQ(x, (std::vector<float>{1.5f, -2.0f}));
  std::vector<float> out(2);
  const int64_t counts[] = {2};
  c.gather(x.data(), counts, out.data());
  EXPECT_EQ(out, x);
  EXPECT_EQ(c.all_gather("a"), std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace qwen3
