// KvCache: every operation, its error paths, and the fork / copy-on-write data behaviour.
#include "kv/kv_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

#include "kv_test_util.h"

namespace qwen3 {
namespace {

using kvtest::append;
using kvtest::holds_token;
using kvtest::iota_tags;
using kvtest::small_options;
using kvtest::snapshot;
using kvtest::write_token;

// Expects `f` to throw exactly E (not a subclass when E is Error) and to change nothing.
template <typename E, typename F>
std::string expect_throw_unchanged(KvCache& c, F f) {
  const auto before = snapshot(c);
  std::string what;
  try {
    f();
    ADD_FAILURE() << "expected an exception";
  } catch (const KvCacheFull& e) {
    if constexpr (!std::is_same_v<E, KvCacheFull>)
      ADD_FAILURE() << "misuse reported as a full cache: " << e.what();
    what = e.what();
  } catch (const Error& e) {
    if constexpr (std::is_same_v<E, KvCacheFull>)
      ADD_FAILURE() << "expected KvCacheFull, got: " << e.what();
    what = e.what();
  }
  EXPECT_TRUE(before == snapshot(c)) << "state changed by a failed operation: " << what;
  c.check_invariants();
  return what;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(KvCache, AddRemoveContainsSequences) {
  KvCache c(small_options());
  EXPECT_TRUE(c.sequences().empty());
  c.add_sequence(7);
  c.add_sequence(-2);
  c.add_sequence(3);
  EXPECT_TRUE(c.contains(7));
  EXPECT_FALSE(c.contains(8));
  EXPECT_EQ(c.sequences(), (std::vector<SeqId>{-2, 3, 7}));
  EXPECT_EQ(c.num_tokens(7), 0);
  EXPECT_EQ(c.capacity(7), 0);
  EXPECT_TRUE(c.block_table(7).empty());
  EXPECT_EQ(c.num_free_pages(), 8);
  c.check_invariants();
  EXPECT_TRUE(
      contains(expect_throw_unchanged<Error>(c, [&] { c.add_sequence(7); }), "already exists"));
  c.remove_sequence(7);
  EXPECT_FALSE(c.contains(7));
  EXPECT_EQ(c.sequences(), (std::vector<SeqId>{-2, 3}));
  c.check_invariants();
}

TEST(KvCache, UnknownSequenceIsAnErrorEverywhere) {
  KvCache c(small_options());
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 3));
  const KvCache& cc = c;
  auto unknown = [&](auto f) {
    EXPECT_TRUE(contains(expect_throw_unchanged<Error>(c, f), "unknown sequence 9"));
  };
  unknown([&] { c.remove_sequence(9); });
  unknown([&] { c.fork(9, 10); });
  unknown([&] { c.pop(9, 0); });
  unknown([&] { c.reserve(9, 1); });
  unknown([&] { (void)cc.pages_needed(9, 1); });
  unknown([&] { c.commit(9, 0); });
  unknown([&] { (void)cc.num_tokens(9); });
  unknown([&] { (void)cc.capacity(9); });
  unknown([&] { (void)cc.block_table(9); });
  unknown([&] { (void)c.key(0, 9, 0); });
  unknown([&] { (void)c.value(0, 9, 0); });
  EXPECT_FALSE(c.contains(10));
}

TEST(KvCache, ReserveAllocatesWholePages) {
  KvCache c(small_options(/*num_pages=*/8, /*page_size=*/4));
  c.add_sequence(1);
  EXPECT_EQ(c.pages_needed(1, 0), 0);
  EXPECT_EQ(c.pages_needed(1, 1), 1);
  EXPECT_EQ(c.pages_needed(1, 4), 1);
  EXPECT_EQ(c.pages_needed(1, 5), 2);
  EXPECT_EQ(c.pages_needed(1, 1000), 250);  // may exceed the pool: it is a question, not an order
  c.reserve(1, 0);
  EXPECT_EQ(c.capacity(1), 0);
  EXPECT_EQ(c.num_free_pages(), 8);
  c.reserve(1, 5);
  EXPECT_EQ(c.capacity(1), 8);
  EXPECT_EQ(c.block_table(1).size(), 2u);
  EXPECT_EQ(c.num_free_pages(), 6);
  EXPECT_EQ(c.num_tokens(1), 0);
  // Within capacity: no-op.
  EXPECT_EQ(c.pages_needed(1, 8), 0);
  c.reserve(1, 8);
  EXPECT_EQ(c.num_free_pages(), 6);
  // Grows by what is missing beyond num_tokens + n, not by n.
  c.commit(1, 6);
  EXPECT_EQ(c.pages_needed(1, 2), 0);
  EXPECT_EQ(c.pages_needed(1, 3), 1);
  c.reserve(1, 3);
  EXPECT_EQ(c.capacity(1), 12);
  EXPECT_EQ(c.num_free_pages(), 5);
  c.check_invariants();
  EXPECT_TRUE(
      contains(expect_throw_unchanged<Error>(c, [&] { c.reserve(1, -1); }), "n must be >= 0"));
  expect_throw_unchanged<Error>(c, [&] { (void)c.pages_needed(1, -1); });
}

TEST(KvCache, PagesNeededIsSafeForHugeN) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 3));
  EXPECT_EQ(c.pages_needed(1, INT64_MAX), (INT64_MAX - 1) / 4 + 1);
  EXPECT_TRUE(contains(expect_throw_unchanged<KvCacheFull>(c, [&] { c.reserve(1, INT64_MAX); }),
                       "7 of 8 free"));
}

TEST(KvCache, ReserveFailureChangesNothingAndSaysWhy) {
  KvCache c(small_options(/*num_pages=*/4, /*page_size=*/4));
  c.add_sequence(1);
  c.add_sequence(2);
  append(c, 1, iota_tags(0, 6));    // 2 pages
  append(c, 2, iota_tags(100, 1));  // 1 page
  ASSERT_EQ(c.num_free_pages(), 1);
  const std::string what = expect_throw_unchanged<KvCacheFull>(c, [&] { c.reserve(1, 7); });
  // 6 + 7 = 13 tokens -> 4 pages, has 2: needs 2, 1 free.
  EXPECT_TRUE(contains(what, "needs 2 pages")) << what;
  EXPECT_TRUE(contains(what, "1 of 4 free")) << what;
  EXPECT_TRUE(contains(what, "sequence 1")) << what;
  // The data is still readable, and the cache still works once pages are freed.
  for (int64_t i = 0; i < 6; ++i) EXPECT_TRUE(holds_token(c, 1, i, i));
  c.remove_sequence(2);
  append(c, 1, iota_tags(6, 7));
  for (int64_t i = 0; i < 13; ++i) EXPECT_TRUE(holds_token(c, 1, i, i));
  c.check_invariants();
}

TEST(KvCache, CommitChecksCapacity) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  c.commit(1, 0);
  EXPECT_TRUE(contains(expect_throw_unchanged<Error>(c, [&] { c.commit(1, 1); }), "capacity 0"));
  c.reserve(1, 3);  // capacity 4
  c.commit(1, 3);
  EXPECT_EQ(c.num_tokens(1), 3);
  c.commit(1, 1);
  EXPECT_EQ(c.num_tokens(1), 4);
  expect_throw_unchanged<Error>(c, [&] { c.commit(1, 1); });
  expect_throw_unchanged<Error>(c, [&] { c.commit(1, -1); });
  expect_throw_unchanged<Error>(c, [&] { c.commit(1, INT64_MAX); });
  c.check_invariants();
}

TEST(KvCache, WrittenDataReadsBackThroughTheBlockTable) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  c.add_sequence(2);
  // Interleave so the two sequences' pages alternate in the pool.
  for (int64_t i = 0; i < 10; ++i) {
    append(c, 1, {i});
    append(c, 2, {1000 + i});
  }
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_TRUE(holds_token(c, 1, i, i));
    EXPECT_TRUE(holds_token(c, 2, i, 1000 + i));
    // key()/value() point where block_table + storage say.
    auto t = c.block_table(1);
    EXPECT_EQ(c.key(1, 1, i), c.storage().key(1, t[size_t(i / 4)], int(i % 4)));
    EXPECT_EQ(c.value(0, 1, i), c.storage().value(0, t[size_t(i / 4)], int(i % 4)));
  }
  EXPECT_NE(c.key(0, 1, 0), c.value(0, 1, 0));
  EXPECT_NE(c.key(0, 1, 0), c.key(1, 1, 0));
  c.check_invariants();
}

TEST(KvCache, KeyValueBoundsChecks) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  EXPECT_THROW(c.key(0, 1, 0), Error);  // capacity 0
  c.reserve(1, 2);                      // capacity 4
  EXPECT_NO_THROW(c.key(0, 1, 3));      // reserved but not committed: writable
  EXPECT_TRUE(
      contains(expect_throw_unchanged<Error>(c, [&] { (void)c.key(0, 1, 4); }), "capacity 4"));
  expect_throw_unchanged<Error>(c, [&] { (void)c.value(0, 1, -1); });
  expect_throw_unchanged<Error>(c, [&] { (void)c.key(2, 1, 0); });
  expect_throw_unchanged<Error>(c, [&] { (void)c.value(-1, 1, 0); });
}

TEST(KvCache, RemoveFreesAllPages) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  c.add_sequence(2);
  append(c, 1, iota_tags(0, 9));  // 3 pages
  c.reserve(1, 8);                // 17 tokens -> 5 pages
  append(c, 2, iota_tags(0, 4));  // 1 page
  EXPECT_EQ(c.num_free_pages(), 2);
  c.remove_sequence(1);
  EXPECT_EQ(c.num_free_pages(), 7);
  c.check_invariants();
  c.remove_sequence(2);
  EXPECT_EQ(c.num_free_pages(), 8);
  for (PageId p = 0; p < 8; ++p) EXPECT_EQ(c.pool().refcount(p), 0);
  c.check_invariants();
  expect_throw_unchanged<Error>(c, [&] { c.remove_sequence(2); });
}

TEST(KvCache, PopShrinksAndReleasesPages) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 10));  // 3 pages, capacity 12
  c.reserve(1, 6);                 // 16 tokens -> 4 pages
  ASSERT_EQ(c.capacity(1), 16);
  ASSERT_EQ(c.num_free_pages(), 4);
  const auto before = std::vector<PageId>(c.block_table(1).begin(), c.block_table(1).end());

  c.pop(1, 1);  // 9 tokens: keeps ceil(9/4) = 3 pages; the reserved 4th page is released
  EXPECT_EQ(c.num_tokens(1), 9);
  EXPECT_EQ(c.capacity(1), 12);
  EXPECT_EQ(c.num_free_pages(), 5);
  c.check_invariants();

  c.pop(1, 1);  // 8 tokens: 2 pages, capacity == num_tokens
  EXPECT_EQ(c.capacity(1), 8);
  EXPECT_EQ(c.num_free_pages(), 6);
  // The kept pages are the same pages, with the same data.
  EXPECT_EQ(c.block_table(1)[0], before[0]);
  EXPECT_EQ(c.block_table(1)[1], before[1]);
  for (int64_t i = 0; i < 8; ++i) EXPECT_TRUE(holds_token(c, 1, i, i));

  c.pop(1, 0);  // nothing to drop: no reservation past ceil(8/4) pages
  EXPECT_EQ(c.capacity(1), 8);
  c.reserve(1, 1);
  EXPECT_EQ(c.capacity(1), 12);
  c.pop(1, 0);  // pop(0) drops reservations
  EXPECT_EQ(c.capacity(1), 8);
  EXPECT_EQ(c.num_tokens(1), 8);

  EXPECT_TRUE(contains(expect_throw_unchanged<Error>(c, [&] { c.pop(1, 9); }), "only 8"));
  expect_throw_unchanged<Error>(c, [&] { c.pop(1, -1); });
  c.pop(1, 8);
  EXPECT_EQ(c.num_tokens(1), 0);
  EXPECT_EQ(c.capacity(1), 0);
  EXPECT_EQ(c.num_free_pages(), 8);
  c.check_invariants();
}

TEST(KvCache, PopThenReappend) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 11));
  c.pop(1, 5);                      // 6 tokens; position 6, 7 still in the kept page
  append(c, 1, iota_tags(500, 7));  // 13 tokens
  ASSERT_EQ(c.num_tokens(1), 13);
  for (int64_t i = 0; i < 6; ++i) EXPECT_TRUE(holds_token(c, 1, i, i));
  for (int64_t i = 6; i < 13; ++i) EXPECT_TRUE(holds_token(c, 1, i, 500 + i - 6));
  c.check_invariants();
}

TEST(KvCache, ForkSharesFullPagesAndCopiesThePartialPage) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 10));  // pages: full, full, partial (2 slots)
  ASSERT_EQ(c.num_free_pages(), 5);
  c.fork(1, 2);
  c.check_invariants();
  EXPECT_EQ(c.num_tokens(2), 10);
  EXPECT_EQ(c.capacity(2), 12);
  EXPECT_EQ(c.num_free_pages(), 4);  // one page for the copy
  auto p = c.block_table(1);
  auto k = c.block_table(2);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0], p[0]);
  EXPECT_EQ(k[1], p[1]);
  EXPECT_NE(k[2], p[2]);
  EXPECT_EQ(c.pool().refcount(p[0]), 2);
  EXPECT_EQ(c.pool().refcount(p[1]), 2);
  EXPECT_EQ(c.pool().refcount(p[2]), 1);
  EXPECT_EQ(c.pool().refcount(k[2]), 1);
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_TRUE(holds_token(c, 1, i, i));
    EXPECT_TRUE(holds_token(c, 2, i, i));
  }
}

TEST(KvCache, ForkOfAlignedOrEmptyParentTakesNoPage) {
  KvCache c(small_options(2, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 8));
  ASSERT_EQ(c.num_free_pages(), 0);
  c.fork(1, 2);  // no partial page: works with an empty pool
  EXPECT_EQ(c.num_tokens(2), 8);
  EXPECT_EQ(c.capacity(2), 8);
  EXPECT_EQ(c.pool().refcount(c.block_table(1)[1]), 2);
  c.add_sequence(3);
  c.fork(3, 4);
  EXPECT_EQ(c.num_tokens(4), 0);
  EXPECT_EQ(c.capacity(4), 0);
  c.check_invariants();
}

TEST(KvCache, ForkDoesNotInheritReservations) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 5));
  c.reserve(1, 10);  // capacity 16
  c.fork(1, 2);
  EXPECT_EQ(c.capacity(1), 16);
  EXPECT_EQ(c.capacity(2), 8);
  c.check_invariants();
}

TEST(KvCache, ForkWithoutAFreePageFailsCleanly) {
  KvCache c(small_options(3, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 9));  // 3 pages, last one partial
  ASSERT_EQ(c.num_free_pages(), 0);
  const std::string what = expect_throw_unchanged<KvCacheFull>(c, [&] { c.fork(1, 2); });
  EXPECT_TRUE(contains(what, "needs 1 page")) << what;
  EXPECT_TRUE(contains(what, "0 of 3 free")) << what;
  EXPECT_FALSE(c.contains(2));
}

TEST(KvCache, ForkMisuse) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  c.add_sequence(2);
  append(c, 1, iota_tags(0, 3));
  EXPECT_TRUE(contains(expect_throw_unchanged<Error>(c, [&] { c.fork(1, 2); }), "already exists"));
  expect_throw_unchanged<Error>(c, [&] { c.fork(1, 1); });
  expect_throw_unchanged<Error>(c, [&] { c.fork(5, 6); });
}

TEST(KvCache, WritesAfterForkAreIsolated) {
  KvCache c(small_options(12, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 6));
  c.fork(1, 2);
  append(c, 2, iota_tags(200, 5));  // child continues into its private copy, then new pages
  append(c, 1, iota_tags(100, 3));  // parent continues into its own partial page
  c.check_invariants();
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(holds_token(c, 1, i, i));
    EXPECT_TRUE(holds_token(c, 2, i, i));
  }
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(holds_token(c, 1, 6 + i, 100 + i));
  for (int64_t i = 0; i < 5; ++i) EXPECT_TRUE(holds_token(c, 2, 6 + i, 200 + i));
  // Grandchild from the child, then the parent goes away: everything still readable.
  c.fork(2, 3);
  c.remove_sequence(1);
  c.check_invariants();
  for (int64_t i = 0; i < 6; ++i) EXPECT_TRUE(holds_token(c, 3, i, i));
  for (int64_t i = 0; i < 5; ++i) EXPECT_TRUE(holds_token(c, 3, 6 + i, 200 + i));
}

TEST(KvCache, ForkThenPopIntoASharedPageCopiesOnWrite) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 12));  // 3 full pages
  c.fork(1, 2);                    // child shares all three
  ASSERT_EQ(c.num_free_pages(), 5);
  const PageId shared = c.block_table(1)[2];
  ASSERT_EQ(c.pool().refcount(shared), 2);

  c.pop(1, 2);  // parent: 10 tokens, its next write lands in shared page 2 at slot 2
  EXPECT_EQ(c.capacity(1), 12);
  EXPECT_EQ(c.block_table(1)[2], shared);
  c.check_invariants();

  // Writing without reserve() would clobber the child's tokens 10 and 11: commit refuses.
  EXPECT_TRUE(contains(expect_throw_unchanged<Error>(c, [&] { c.commit(1, 1); }), "shared"));

  EXPECT_EQ(c.pages_needed(1, 1), 1);  // room is there, but the copy takes a page
  EXPECT_EQ(c.pages_needed(1, 2), 1);
  EXPECT_EQ(c.pages_needed(1, 3), 2);  // copy + one new page
  c.reserve(1, 2);
  EXPECT_EQ(c.num_free_pages(), 4);
  const PageId copy = c.block_table(1)[2];
  EXPECT_NE(copy, shared);
  EXPECT_EQ(c.block_table(2)[2], shared);
  EXPECT_EQ(c.pool().refcount(shared), 1);
  EXPECT_EQ(c.pool().refcount(copy), 1);
  EXPECT_EQ(c.pages_needed(1, 2), 0);  // private now
  c.check_invariants();
  // The copy kept tokens 8, 9.
  EXPECT_TRUE(holds_token(c, 1, 8, 8));
  EXPECT_TRUE(holds_token(c, 1, 9, 9));

  write_token(c, 1, 10, 900);
  write_token(c, 1, 11, 901);
  c.commit(1, 2);
  for (int64_t i = 0; i < 12; ++i) EXPECT_TRUE(holds_token(c, 2, i, i)) << "child changed";
  for (int64_t i = 0; i < 10; ++i) EXPECT_TRUE(holds_token(c, 1, i, i));
  EXPECT_TRUE(holds_token(c, 1, 10, 900));
  EXPECT_TRUE(holds_token(c, 1, 11, 901));

  // And the other way round: the child pops into a page shared with the parent (page 1).
  c.pop(2, 7);  // child: 5 tokens, next write into page 1 (shared) at slot 1
  EXPECT_EQ(c.pool().refcount(c.block_table(2)[1]), 2);
  append(c, 2, iota_tags(300, 6));
  for (int64_t i = 0; i < 12; ++i)
    EXPECT_TRUE(holds_token(c, 1, i, i < 10 ? i : 900 + i - 10)) << "parent changed";
  for (int64_t i = 0; i < 5; ++i) EXPECT_TRUE(holds_token(c, 2, i, i));
  for (int64_t i = 0; i < 6; ++i) EXPECT_TRUE(holds_token(c, 2, 5 + i, 300 + i));
  EXPECT_EQ(c.block_table(1)[0], c.block_table(2)[0]);  // untouched page stays shared
  c.check_invariants();
}

TEST(KvCache, CopyOnWriteFailsCleanlyWhenThePoolIsEmpty) {
  KvCache c(small_options(3, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 8));
  c.fork(1, 2);  // aligned: shares both pages, 1 page left
  c.add_sequence(3);
  append(c, 3, {77});  // takes the last page
  c.pop(1, 1);         // parent's next write into shared page 1
  ASSERT_EQ(c.num_free_pages(), 0);
  const std::string what = expect_throw_unchanged<KvCacheFull>(c, [&] { c.reserve(1, 1); });
  EXPECT_TRUE(contains(what, "needs 1 page,")) << what;
  EXPECT_TRUE(contains(what, "0 of 3 free")) << what;
  // Needs the copy and a new page, one is free: still nothing changes.
  c.remove_sequence(3);
  const std::string what2 = expect_throw_unchanged<KvCacheFull>(c, [&] { c.reserve(1, 2); });
  EXPECT_TRUE(contains(what2, "needs 2 pages")) << what2;
  c.reserve(1, 1);
  EXPECT_EQ(c.num_free_pages(), 0);
  c.check_invariants();
}

TEST(KvCache, RemovingTheForkKeepsTheOtherIntact) {
  KvCache c(small_options(8, 4));
  c.add_sequence(1);
  append(c, 1, iota_tags(0, 9));
  c.fork(1, 2);
  c.remove_sequence(1);
  EXPECT_EQ(c.pool().refcount(c.block_table(2)[0]), 1);
  for (int64_t i = 0; i < 9; ++i) EXPECT_TRUE(holds_token(c, 2, i, i));
  c.remove_sequence(2);
  EXPECT_EQ(c.num_free_pages(), 8);
  c.check_invariants();
}

}  // namespace
}  // namespace qwen3
