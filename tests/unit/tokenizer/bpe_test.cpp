#include "tokenizer/bpe.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace qwen3 {
namespace {

TEST(MergeTableTest, FindsInsertsAndGrows) {
  MergeTable t(2);
  for (int32_t i = 0; i < 1000; ++i) t.insert(i, i + 1, {i, 1000 + i});
  EXPECT_EQ(t.size(), 1000u);
  for (int32_t i = 0; i < 1000; ++i) {
    const MergeTable::Merge* m = t.find(i, i + 1);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->rank, i);
    EXPECT_EQ(m->new_id, 1000 + i);
  }
  EXPECT_EQ(t.find(1, 0), nullptr);
  // A repeated pair takes the later merge (Hugging Face's HashMap keeps the last duplicate).
  t.insert(5, 6, {2000, 7});
  EXPECT_EQ(t.find(5, 6)->rank, 2000);
  EXPECT_EQ(t.size(), 1000u);
}

// Bytes 'a'..'d' are ids 0..3; merges: ab(4) rank 0, bc(5) rank 1, cd(6) rank 2, ab+cd(7) rank 3,
// aa(8) rank 4. Other bytes are not in the vocabulary and are dropped.
BpeModel small_model() {
  std::array<int32_t, 256> byte_ids;
  byte_ids.fill(-1);
  for (int b = 'a'; b <= 'd'; ++b) byte_ids[b] = b - 'a';
  MergeTable merges;
  merges.insert(0, 1, {0, 4});
  merges.insert(1, 2, {1, 5});
  merges.insert(2, 3, {2, 6});
  merges.insert(4, 6, {3, 7});
  merges.insert(0, 0, {4, 8});
  return BpeModel(byte_ids, std::move(merges), false, {});
}

TEST(BpeModelTest, MergesLowestRankFirst) {
  const BpeModel m = small_model();
  auto enc = [&](std::string_view w) {
    std::vector<int32_t> ids;
    m.encode_word(w, ids);
    return ids;
  };
  EXPECT_EQ(enc("abcd"), (std::vector<int32_t>{7}));     // ab, cd, then abcd; bc (rank 1) loses to ab (0)
  EXPECT_EQ(enc("bcd"), (std::vector<int32_t>{5, 3}));   // bc (1) before cd (2)
  EXPECT_EQ(enc("aaa"), (std::vector<int32_t>{8, 0}));   // leftmost of equal ranks
  EXPECT_EQ(enc("axb"), (std::vector<int32_t>{4}));      // 'x' is dropped, then a b merge
  EXPECT_EQ(enc(""), (std::vector<int32_t>{}));
}

TEST(BpeModelTest, CachedEqualsUncached) {
  const BpeModel m = small_model();
  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string w(1 + rng() % 100, 'a');  // also words longer than the cached limit
    for (char& c : w) c = static_cast<char>('a' + rng() % 4);
    std::vector<int32_t> cached, again, uncached;
    m.encode_word(w, cached);
    m.encode_word(w, again);
    m.encode_word_uncached(w, uncached);
    ASSERT_EQ(cached, uncached) << w;
    ASSERT_EQ(again, uncached) << w;
  }
}

}  // namespace
}  // namespace qwen3
