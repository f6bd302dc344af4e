// The journal that keeps tensor-parallel ranks' caches in step (KvCache::take_journal / replay):
// thousands of random operations (add, fork, pop, reserve, commit, remove, the prefix cache's two
// calls, and failures) on a journaled cache; after every few, a mirror replays what was recorded
// and must hold the same sequences, tokens, block tables (page for page) and free pages. Failed
// operations record nothing; a malformed journal is refused.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kv/kv_cache.h"
#include "kv_test_util.h"

namespace qwen3 {
namespace {

void expect_same(const KvCache& a, const KvCache& b, int step) {
  ASSERT_EQ(a.sequences(), b.sequences()) << "step " << step;
  for (SeqId s : a.sequences()) {
    ASSERT_EQ(a.num_tokens(s), b.num_tokens(s)) << "step " << step << " seq " << s;
    const auto ta = a.block_table(s), tb = b.block_table(s);
    ASSERT_EQ(std::vector<PageId>(ta.begin(), ta.end()), std::vector<PageId>(tb.begin(), tb.end()))
        << "step " << step << " seq " << s;
  }
  ASSERT_EQ(a.num_free_pages(), b.num_free_pages()) << "step " << step;
  ASSERT_EQ(a.num_cached_pages(), b.num_cached_pages()) << "step " << step;
  ASSERT_EQ(a.num_evictable_pages(), b.num_evictable_pages()) << "step " << step;
  b.check_invariants();
}

TEST(KvJournal, RandomOperationsReplayIdentically) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    KvCacheOptions o = kvtest::small_options(12, 4);
    o.journal = true;
    KvCache lead(o);
    KvCacheOptions mo = o;
    mo.journal = false;
    KvCache mirror(mo);
    std::mt19937 rng(seed);
    std::map<SeqId, std::vector<int32_t>> tokens;  // ids each sequence holds (for the prefix cache)
    SeqId next = 0;
    auto pick = [&]() -> SeqId {
      auto it = tokens.begin();
      std::advance(it, rng() % tokens.size());
      return it->first;
    };
    for (int step = 0; step < 3000; ++step) {
      const int op = int(rng() % 8);
      try {
        if (op == 0 || tokens.empty()) {
          const SeqId s = next++;
          std::vector<int32_t> ids(rng() % 12);
          for (auto& t : ids) t = int32_t(rng() % 3);  // few distinct ids: prefix hits happen
          if (rng() % 2) lead.add_sequence_from_prefix_cache(s, ids, int64_t(ids.size()) - 1);
          else lead.add_sequence(s);
          ids.resize(size_t(lead.num_tokens(s)));
          tokens[s] = ids;
        } else if (op == 1) {
          const SeqId p = pick(), c = next++;
          lead.fork(p, c);
          tokens[c] = tokens[p];
        } else if (op == 2 || op == 3) {  // append n tokens, as the forward pass does
          const SeqId s = pick();
          const int64_t n = 1 + rng() % 6;
          lead.reserve(s, n);
          lead.commit(s, n);
          for (int64_t i = 0; i < n; ++i) tokens[s].push_back(int32_t(rng() % 3));
        } else if (op == 4) {
          const SeqId s = pick();
          const int64_t n = int64_t(rng() % (tokens[s].size() + 1));
          lead.pop(s, n);
          tokens[s].resize(tokens[s].size() - size_t(n));
        } else if (op == 5) {
          const SeqId s = pick();
          lead.cache_full_pages(s, tokens[s]);
        } else if (op == 6) {
          const SeqId s = pick();
          lead.remove_sequence(s);
          tokens.erase(s);
        } else {
          lead.reserve(pick(), 1 + rng() % 40);  // often too large: KvCacheFull, nothing recorded
        }
      } catch (const KvCacheFull&) {
      }
      if (step % 7 == 0) {
        mirror.replay(lead.take_journal());
        expect_same(lead, mirror, step);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

TEST(KvJournal, PausedAndUnjournaledCachesRecordNothing) {
  KvCacheOptions o = kvtest::small_options();
  KvCache plain(o);
  plain.add_sequence(1);
  EXPECT_TRUE(plain.take_journal().empty());
  o.journal = true;
  KvCache lead(o);
  lead.pause_journal(true);
  lead.add_sequence(1);
  lead.pause_journal(false);
  EXPECT_TRUE(lead.take_journal().empty());
  lead.add_sequence(2);
  EXPECT_FALSE(lead.take_journal().empty());
  EXPECT_TRUE(lead.take_journal().empty());  // taken
  EXPECT_NE(lead.id(), plain.id());
}

TEST(KvJournal, MalformedJournalIsRefused) {
  KvCache c(kvtest::small_options());
  EXPECT_THROW(c.replay(std::vector<int64_t>{1}), Error);           // truncated
  EXPECT_THROW(c.replay(std::vector<int64_t>{99, 1, 5}), Error);    // unknown operation
  EXPECT_THROW(c.replay(std::vector<int64_t>{3, 1, 5}), Error);     // fork with one argument
  EXPECT_THROW(c.replay(std::vector<int64_t>{2, 1, 7}), Error);     // removes an unknown sequence
  EXPECT_THROW(c.replay(std::vector<int64_t>{1, -1}), Error);       // negative length
}

}  // namespace
}  // namespace qwen3
