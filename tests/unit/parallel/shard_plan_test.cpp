#include <gtest/gtest.h>

#include "core/error.h"
#include "parallel/shard_plan.h"

namespace qwen3 {
namespace {

TEST(ShardPlan, PartsCoverTheRangeInOrder) {
  int64_t next = 0;
  for (int r = 0; r < 4; ++r) {
    ShardPlan p(r, 4, {{"heads", 8}});
    ShardRange s = p.part(8, 128);
    EXPECT_EQ(s.begin, next);
    EXPECT_EQ(s.size, 2 * 128);
    next += s.size;
  }
  EXPECT_EQ(next, 8 * 128);
}

TEST(ShardPlan, RejectsAWorldSizeThatDoesNotDivideNamingTheNumbers) {
  try {
    ShardPlan p(0, 3, {{"num_attention_heads", 16}, {"num_key_value_heads", 8}, {"intermediate_size", 3072}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tensor parallel world size 3 does not divide num_attention_heads = 16, num_key_value_heads = 8");
  }
  EXPECT_THROW(ShardPlan(2, 2, {}), Error);
  EXPECT_THROW(ShardPlan(0, 0, {}), Error);
}

}  // namespace
}  // namespace qwen3
