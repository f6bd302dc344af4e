// Shared by the bench/kernels_*.cpp benchmarks (one binary, bench_kernels).
#pragma once

#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace qwen3::bench {

// Restores the instruction set and thread count a benchmark changed.
struct RestoreIsaAndThreads {
  kernels::Isa isa = kernels::active_isa();
  int threads = num_threads();
  ~RestoreIsaAndThreads() {
    kernels::set_active_isa(isa);
    set_num_threads(threads);
  }
};

}  // namespace qwen3::bench
