// Tensor-parallel shard plan: which slice of a tensor a rank holds. Model-agnostic: the model
// declares, next to each weight, how it is split (see model/qwen3_weights.cpp); this file does the
// arithmetic and the validation.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qwen3 {

enum class Split {
  Replicated,  // every rank holds the whole tensor
  Rows,        // dim 0 (output features) split into world_size equal parts
  Cols,        // dim 1 (input features) split into world_size equal parts
};

struct ShardRange {
  int64_t begin = 0;  // first index along the split dimension
  int64_t size = 0;   // number of indices
};

class ShardPlan {
 public:
  // counts: the quantities that must divide by world_size, named for the error message,
  // e.g. {{"num_attention_heads", 16}, {"num_key_value_heads", 8}, {"intermediate_size", 3072}}.
  ShardPlan(int rank, int world_size, const std::vector<std::pair<std::string, int64_t>>& counts);
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // This rank's part of `units` units (heads, columns) that are `unit_size` indices each.
  ShardRange part(int64_t units, int64_t unit_size = 1) const;
  // This rank's part of `n` indices that need not divide: parts of ceil(n / world_size) rounded up
  // to a multiple of `granule` (the last rank takes what is left, possibly fewer or none). For the
  // vocabulary-parallel embedding table and head.
  ShardRange uneven_part(int64_t n, int64_t granule) const;

 private:
  int rank_ = 0, world_size_ = 1;
};

}  // namespace qwen3
