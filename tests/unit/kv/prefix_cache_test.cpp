// The prefix cache inside KvCache: hits share whole pages and leave the last token to compute,
// released pages stay cached (parked) and count as free, allocation evicts the least recently
// released first, hash collisions never give wrong K/V, and cached pages are never written. A
// randomised test writes each token's K/V as a function of its whole prefix (as a model would), so
// any hit that hands out a page computed after a different prefix shows up as wrong data.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "kv/kv_cache.h"
#include "kv_test_util.h"

namespace qwen3 {
namespace {

using kvtest::holds_token;
using kvtest::small_options;
using kvtest::write_token;

// The K/V tag of position i: a hash of tokens[0..i], like real K/V depends on the whole prefix.
int64_t prefix_tag(std::span<const int32_t> tokens, size_t i) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t k = 0; k <= i; ++k) h = (h ^ uint64_t(uint32_t(tokens[k]))) * 1099511628211ULL;
  return int64_t(h % 60000);
}

// Computes tokens [num_tokens(seq), tokens.size()) into seq (as a forward pass would) and offers
// its full pages to the cache.
void compute(KvCache& c, SeqId seq, std::span<const int32_t> tokens) {
  const int64_t from = c.num_tokens(seq), n = int64_t(tokens.size()) - from;
  c.reserve(seq, n);
  for (int64_t i = from; i < int64_t(tokens.size()); ++i) write_token(c, seq, i, prefix_tag(tokens, size_t(i)));
  c.commit(seq, n);
  c.cache_full_pages(seq, tokens);
  c.check_invariants();
}

::testing::AssertionResult holds_prefix(const KvCache& c, SeqId seq, std::span<const int32_t> tokens) {
  for (int64_t i = 0; i < c.num_tokens(seq); ++i) {
    auto r = holds_token(c, seq, i, prefix_tag(tokens, size_t(i)));
    if (!r) return r;
  }
  return ::testing::AssertionSuccess();
}

std::vector<int32_t> ids(std::initializer_list<int32_t> l) { return l; }

TEST(PrefixCache, HitSharesWholePagesAndLeavesTheLastToken) {
  KvCache c(small_options(8, 4));
  const auto t = ids({5, 6, 7, 8, 9, 10, 11, 12, 13, 14});  // 2 full pages + 2
  c.add_sequence(1);
  compute(c, 1, t);
  EXPECT_EQ(c.num_cached_pages(), 2);
  EXPECT_EQ(c.num_evictable_pages(), 0);  // still held by sequence 1
  // While 1 runs: a second request shares its pages.
  EXPECT_EQ(c.add_sequence_from_prefix_cache(2, t, int64_t(t.size()) - 1), 8);
  EXPECT_EQ(c.block_table(2)[0], c.block_table(1)[0]);
  EXPECT_EQ(c.pool().refcount(c.block_table(1)[1]), 2);
  EXPECT_TRUE(holds_prefix(c, 2, t));
  c.check_invariants();
  c.remove_sequence(1);
  c.remove_sequence(2);
  EXPECT_EQ(c.num_evictable_pages(), 2);
  EXPECT_EQ(c.num_free_pages(), 8);  // parked pages count as free
  EXPECT_EQ(c.pool().num_free(), 6);
  c.check_invariants();
  // Exactly two pages of prompt: only the first is taken (the last token must be computed).
  EXPECT_EQ(c.add_sequence_from_prefix_cache(3, std::span(t).first(8), 7), 4);
  EXPECT_EQ(c.num_evictable_pages(), 1);
  EXPECT_TRUE(holds_prefix(c, 3, t));
  compute(c, 3, std::span(t).first(8));
  EXPECT_TRUE(holds_prefix(c, 3, t));
  // A prompt that diverges in the middle of page 1 gets page 0 only; one shorter than a page, nothing.
  auto d = t;
  d[6] = 99;
  EXPECT_EQ(c.add_sequence_from_prefix_cache(4, d, int64_t(d.size()) - 1), 4);
  EXPECT_EQ(c.add_sequence_from_prefix_cache(5, std::span(t).first(3), 2), 0);
  EXPECT_EQ(c.add_sequence_from_prefix_cache(6, ids({6, 7, 8, 9, 10}), 4), 0);  // same tokens, other offset
  c.check_invariants();
  EXPECT_THROW(c.add_sequence_from_prefix_cache(4, t, 9), Error);
}

TEST(PrefixCache, EvictsTheLeastRecentlyReleasedFirstAndTailsFirst) {
  KvCache c(small_options(6, 2));
  const auto a = ids({1, 2, 3, 4}), b = ids({5, 6, 7, 8}), x = ids({9, 10, 11, 12});
  for (auto [id, t] : {std::pair{1, a}, {2, b}, {3, x}}) {
    c.add_sequence(id);
    compute(c, id, t);
  }
  // Released in the order b, a, x: b is the least recently used. A hit on b later would refresh it.
  c.remove_sequence(2);
  c.remove_sequence(1);
  c.remove_sequence(3);
  EXPECT_EQ(c.num_evictable_pages(), 6);
  EXPECT_EQ(c.pool().num_free(), 0);
  // Within b, the tail page was parked first: one page of need evicts b's second page only.
  c.add_sequence(10);
  c.reserve(10, 2);
  c.check_invariants();
  EXPECT_EQ(c.add_sequence_from_prefix_cache(11, ids({5, 6, 7, 8, 0}), 4), 2);  // b's first page is left
  c.remove_sequence(11);  // and now b's first page is the most recently released
  c.reserve(10, 6);      // two more pages: a's (tail, then head)
  c.check_invariants();
  EXPECT_EQ(c.add_sequence_from_prefix_cache(12, ids({1, 2, 3, 4, 0}), 4), 0);
  EXPECT_EQ(c.add_sequence_from_prefix_cache(13, ids({9, 10, 11, 12, 0}), 4), 4);
  EXPECT_EQ(c.add_sequence_from_prefix_cache(14, ids({5, 6, 0}), 2), 2);
  c.check_invariants();
}

TEST(PrefixCache, AFullPoolOfCachedPagesIsAllocatable) {
  KvCache c(small_options(4, 4));
  c.add_sequence(1);
  compute(c, 1, ids({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}));
  c.remove_sequence(1);
  ASSERT_EQ(c.pool().num_free(), 0);
  ASSERT_EQ(c.num_evictable_pages(), 4);
  EXPECT_EQ(c.num_free_pages(), 4);
  // Fork and reserve evict as needed; a failing reserve evicts nothing.
  c.add_sequence(2);
  EXPECT_EQ(c.pages_needed(2, 16), 4);
  const auto before = kvtest::snapshot(c);
  EXPECT_THROW(c.reserve(2, 17), KvCacheFull);
  EXPECT_TRUE(before == kvtest::snapshot(c));
  EXPECT_EQ(c.num_evictable_pages(), 4);
  c.reserve(2, 6);
  EXPECT_EQ(c.num_evictable_pages(), 2);
  for (int64_t i = 0; i < 6; ++i) write_token(c, 2, i, 100 + i);
  c.commit(2, 6);
  c.fork(2, 3);  // the partial page: the third evicted page
  EXPECT_EQ(c.num_evictable_pages(), 1);
  c.reserve(3, 6);  // one more page: the last cached one
  EXPECT_EQ(c.num_evictable_pages(), 0);
  EXPECT_EQ(c.num_free_pages(), 0);
  EXPECT_EQ(c.num_cached_pages(), 0);
  c.check_invariants();
  for (int64_t i = 0; i < 6; ++i) EXPECT_TRUE(holds_token(c, 3, i, 100 + i));
}

// All keys equal (mask 0): every page collides, so only the stored tokens and the parent link
// can tell them apart.
TEST(PrefixCache, HashCollisionsNeverGiveWrongPages) {
  KvCacheOptions o = small_options(8, 2);
  o.prefix_key_mask = 0;
  KvCache c(o);
  const auto ab = ids({1, 2, 3, 4}), cx = ids({5, 6, 0});
  c.add_sequence(1);
  compute(c, 1, ab);  // pages [1 2] [3 4]
  c.add_sequence(2);
  compute(c, 2, cx);  // page [5 6]
  // [5 6][3 4]: page 0 is 2's, and page 1's tokens equal 1's page 1 with the same key, but that
  // page follows [1 2], not [5 6]: a miss.
  const auto cb = ids({5, 6, 3, 4, 0});
  EXPECT_EQ(c.add_sequence_from_prefix_cache(3, cb, 4), 2);
  EXPECT_EQ(c.add_sequence_from_prefix_cache(4, ids({1, 3, 0}), 2), 0);  // same key, other tokens
  EXPECT_EQ(c.add_sequence_from_prefix_cache(5, ab, 4), 4);
  EXPECT_TRUE(holds_prefix(c, 5, ab));
  compute(c, 3, cb);
  EXPECT_TRUE(holds_prefix(c, 3, cb));
  EXPECT_EQ(c.add_sequence_from_prefix_cache(6, cb, 4), 4);
  EXPECT_TRUE(holds_prefix(c, 6, cb));
  c.check_invariants();
}

TEST(PrefixCache, CachedPagesAreNeverWritten) {
  KvCache c(small_options(8, 4));
  const auto t = ids({1, 2, 3, 4, 5, 6, 7, 8});
  c.add_sequence(1);
  compute(c, 1, t);
  const PageId cached = c.block_table(1)[1];
  // Sequence 1 alone holds its last page, which is cached: after a pop it must not write into it.
  c.pop(1, 2);
  EXPECT_EQ(c.pages_needed(1, 1), 1);
  EXPECT_THROW(c.commit(1, 1), Error);
  c.reserve(1, 2);
  EXPECT_NE(c.block_table(1)[1], cached);
  write_token(c, 1, 6, 777);
  write_token(c, 1, 7, 778);
  c.commit(1, 2);
  c.check_invariants();
  EXPECT_EQ(c.add_sequence_from_prefix_cache(2, ids({1, 2, 3, 4, 5, 6, 7, 8, 0}), 8), 8);
  EXPECT_EQ(c.block_table(2)[1], cached);
  EXPECT_TRUE(holds_prefix(c, 2, t));
  // The rewritten page holds other tokens (as far as the cache knows, the same ids): it is a
  // duplicate of a cached page and stays uncached.
  c.cache_full_pages(1, t);
  EXPECT_EQ(c.num_cached_pages(), 2);
  c.check_invariants();
}

// Random operations over a small vocabulary (so prefixes repeat) in a small pool.
class PrefixCacheStress : public ::testing::TestWithParam<int> {};

TEST_P(PrefixCacheStress, HitsAlwaysHoldTheirPrefix) {
  const int ps = GetParam() % 2 == 0 ? 2 : 4;
  const int vocab = ps == 2 ? 3 : 2;  // few enough that whole pages repeat
  KvCache c(small_options(12, ps));
  std::mt19937 rng{uint32_t(GetParam())};
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::map<SeqId, std::vector<int32_t>> seqs;  // the tokens each sequence holds
  SeqId next = 1;
  int64_t hits = 0, evictions_seen = 0;
  for (int op = 0; op < 3000; ++op) {
    const int kind = seqs.empty() ? 0 : uniform(0, 9);
    if (kind <= 3) {  // a new request: hit what is cached, compute the rest if pages last
      std::vector<int32_t> t(size_t(uniform(1, 14)));
      for (auto& x : t) x = uniform(0, vocab - 1);
      const SeqId id = next++;
      const int64_t cached_before = c.num_cached_pages();
      const int64_t got = c.add_sequence_from_prefix_cache(id, t, int64_t(t.size()) - 1);
      ASSERT_EQ(got % ps, 0);
      ASSERT_LE(got, int64_t(t.size()) - 1);
      ASSERT_TRUE(holds_prefix(c, id, t)) << "op " << op;
      hits += got > 0;
      if (c.pages_needed(id, int64_t(t.size()) - got) > c.num_free_pages()) {
        c.remove_sequence(id);
      } else {
        compute(c, id, t);
        seqs[id] = t;
        if (c.num_cached_pages() < cached_before) ++evictions_seen;
      }
    } else {
      auto it = seqs.begin();
      std::advance(it, uniform(0, int(seqs.size()) - 1));
      const SeqId id = it->first;
      auto& t = it->second;
      if (kind <= 5) {
        c.remove_sequence(id);
        seqs.erase(it);
      } else if (kind == 6 && c.num_free_pages() > 0) {
        c.fork(id, next);
        seqs[next++] = t;
      } else if (kind == 7) {
        const int n = uniform(0, int(t.size()));
        c.pop(id, n);
        t.resize(t.size() - size_t(n));
      } else {  // append a few tokens (a decode, a speculative run)
        const size_t old = t.size();
        for (int k = uniform(1, 3); k > 0; --k) t.push_back(int32_t(uniform(0, vocab - 1)));
        if (c.pages_needed(id, int64_t(t.size() - old)) > c.num_free_pages()) t.resize(old);
        else compute(c, id, t);
      }
    }
    c.check_invariants();
    for (auto& [id, t] : seqs) ASSERT_TRUE(holds_prefix(c, id, t)) << "op " << op << " seq " << id;
  }
  EXPECT_GT(hits, 50);
  EXPECT_GT(evictions_seen, 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, PrefixCacheStress, ::testing::Range(1, 7));

}  // namespace
}  // namespace qwen3
