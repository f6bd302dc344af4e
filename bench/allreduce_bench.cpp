// All-reduce latency of the tensor-parallel communicator (parallel/communicator.h) for the message
// sizes Qwen3 sends: per decode step, rows of hidden_size floats (one token); per 512-token prefill,
// 512 rows. Run under mpirun:
//   mpirun -n 2 --bind-to none build/bench_allreduce [iterations]
// Prints, on rank 0, the median and minimum time per all_reduce_sum over the iterations (each
// preceded by a barrier, so a rank's lateness does not count), in microseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "parallel/communicator.h"

int main(int argc, char** argv) {
  using namespace qwen3;
  const int iters = argc > 1 ? std::atoi(argv[1]) : 200;
  Communicator& c = world();
  if (c.rank() == 0)
    std::printf("%s, %d ranks, %d iterations\n%-34s %10s %12s %10s\n", c.backend(), c.size(), iters, "message",
                "floats", "median us", "min us");
  struct Size {
    const char* what;
    long n;
  };
  const Size sizes[] = {{"decode, Qwen3-1.7B (hidden 2048)", 2048},       {"decode, Qwen3-4B (hidden 2560)", 2560},
                        {"decode, Qwen3-8B (hidden 4096)", 4096},         {"decode, Qwen3-32B (hidden 5120)", 5120},
                        {"prefill 512, Qwen3-1.7B", 512L * 2048},          {"prefill 512, Qwen3-4B", 512L * 2560},
                        {"prefill 512, Qwen3-8B", 512L * 4096},            {"prefill 512, Qwen3-32B", 512L * 5120}};
  for (const Size& s : sizes) {
    std::vector<float> x(static_cast<size_t>(s.n), 1.0f);
    std::vector<double> us;
    for (int i = 0; i < iters + 5; ++i) {
      c.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      c.all_reduce_sum(x.data(), s.n);
      const double t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 5) us.push_back(t);  // after a warm-up
      std::fill(x.begin(), x.end(), 1.0f);
    }
    std::sort(us.begin(), us.end());
    if (c.rank() == 0) std::printf("%-34s %10ld %12.1f %10.1f\n", s.what, s.n, us[us.size() / 2], us.front());
  }
  finalize_world();
  return 0;
}
