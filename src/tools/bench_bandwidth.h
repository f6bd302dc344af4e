// Memory read bandwidth of this machine, measured the way decode reads weights: every thread of
// the project's pool streams its own slice of a buffer much larger than the last-level cache with
// wide loads and several independent accumulators (so several loads are in flight per core).
#pragma once

#include <cstddef>

namespace qwen3::tools {

struct BandwidthOptions {
  size_t buffer_bytes = size_t(1) << 30;  // >> L3, so every pass comes from DRAM
  int runs = 7;                           // best of; each run reads the buffer `passes` times
  int passes = 2;
};

// Best read bandwidth in GB/s (1e9 bytes per second) over the runs, on num_threads() threads.
// The buffer is freed before returning. qwen3::Error when it cannot be allocated.
double measure_read_bandwidth(const BandwidthOptions& opts = {});

}  // namespace qwen3::tools
