#include "parallel/shard_plan.h"

#include <algorithm>

#include "core/error.h"

namespace qwen3 {

ShardPlan::ShardPlan(int rank, int world_size, const std::vector<std::pair<std::string, int64_t>>& counts)
    : rank_(rank), world_size_(world_size) {
  if (world_size < 1) fail("tensor parallel world size must be >= 1, got {}", world_size);
  if (rank < 0 || rank >= world_size) fail("rank {} is out of range for world size {}", rank, world_size);
  std::string bad;
  for (auto& [name, n] : counts)
    if (n % world_size) bad += fmt::format("{}{} = {}", bad.empty() ? "" : ", ", name, n);
  if (!bad.empty()) fail("tensor parallel world size {} does not divide {}", world_size, bad);
}

ShardRange ShardPlan::part(int64_t units, int64_t unit_size) const {
  if (units % world_size_) fail("cannot split {} units over {} ranks", units, world_size_);
  int64_t per = units / world_size_;
  return {rank_ * per * unit_size, per * unit_size};
}

ShardRange ShardPlan::uneven_part(int64_t n, int64_t granule) const {
  if (granule < 1) fail("uneven_part: granule must be >= 1, got {}", granule);
  int64_t per = (n + world_size_ - 1) / world_size_;
  per = (per + granule - 1) / granule * granule;
  const int64_t b = std::min(n, rank_ * per), e = std::min(n, b + per);
  return {b, e - b};
}

}  // namespace qwen3
