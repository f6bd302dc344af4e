// Counters and latency histograms of the engine, rendered by the server as Prometheus text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qwen3::engine {

// A Prometheus histogram: cumulative counts per upper bound (seconds), plus sum and count.
struct Histogram {
  std::vector<double> bounds;     // ascending; an implicit +Inf bucket follows
  std::vector<uint64_t> counts;   // [bounds.size() + 1], not cumulative
  double sum = 0;
  uint64_t count = 0;

  explicit Histogram(std::vector<double> b = {}) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
  // Counts v in the first bucket whose bound is >= v (Prometheus' `le`), or in +Inf.
  void observe(double v) {
    size_t i = 0;
    while (i < bounds.size() && v > bounds[i]) ++i;
    ++counts[i];
    sum += v;
    ++count;
  }
};

struct Metrics {
  uint64_t finished[4] = {0, 0, 0, 0};  // by FinishReason: stop, length, cancelled, error (choices)
  uint64_t prompt_tokens = 0;           // per request (not per choice)
  uint64_t generation_tokens = 0;
  uint64_t preemptions = 0;
  uint64_t steps = 0;
  int64_t running = 0, waiting = 0;     // choices
  int64_t kv_pages_used = 0, kv_pages_total = 0;  // used: held by sequences
  // Prefix cache, per request (not per choice) at its first admission: prompt tokens found in the
  // cache (hit) or computed (miss); requests with at least one cached token (hit) or none (miss).
  uint64_t prefix_hit_tokens = 0, prefix_miss_tokens = 0, prefix_hit_requests = 0, prefix_miss_requests = 0;
  int64_t kv_pages_cached = 0;     // cached and held by no sequence (evictable; free for allocation)
  int64_t kv_pages_free = 0;       // in the free list (neither used nor cached)
  // Speculative decoding: decode steps that verified drafts, tokens drafted / accepted / emitted by
  // them (emitted = accepted + one per step), seconds drafting and in the verifying forward passes.
  uint64_t spec_verify_steps = 0, spec_drafted_tokens = 0, spec_accepted_tokens = 0, spec_emitted_tokens = 0;
  double spec_draft_seconds = 0, spec_verify_seconds = 0;
  Histogram time_to_first_token{{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  Histogram inter_token_latency{{0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28}};
};
using MetricsSnapshot = Metrics;

}  // namespace qwen3::engine
