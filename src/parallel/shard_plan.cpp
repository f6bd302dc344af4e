#include "parallel/shard_plan.h"

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

}  // namespace qwen3
