// PagePool: free list and reference counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "kv/kv_cache.h"

namespace qwen3 {
namespace {

TEST(PagePool, StartsAllFree) {
  PagePool pool(5);
  EXPECT_EQ(pool.num_pages(), 5);
  EXPECT_EQ(pool.num_free(), 5);
  for (PageId p = 0; p < 5; ++p) EXPECT_EQ(pool.refcount(p), 0);
  auto fl = pool.free_pages();
  EXPECT_EQ(std::set<PageId>(fl.begin(), fl.end()), (std::set<PageId>{0, 1, 2, 3, 4}));
}

TEST(PagePool, RejectsBadSize) {
  EXPECT_THROW(PagePool(0), Error);
  EXPECT_THROW(PagePool(-3), Error);
  EXPECT_THROW(PagePool(int64_t{1} << 40), Error);
}

TEST(PagePool, AllocateHandsOutDistinctPagesUntilFull) {
  PagePool pool(3);
  std::set<PageId> got;
  for (int i = 0; i < 3; ++i) {
    PageId p = pool.allocate();
    EXPECT_EQ(pool.refcount(p), 1);
    got.insert(p);
  }
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(pool.num_free(), 0);
  try {
    pool.allocate();
    FAIL() << "expected KvCacheFull";
  } catch (const KvCacheFull& e) {
    EXPECT_NE(std::string(e.what()).find("0 of 3 free"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pool.num_free(), 0);
}

TEST(PagePool, RetainReleaseRefcounts) {
  PagePool pool(2);
  PageId p = pool.allocate();
  pool.retain(p);
  pool.retain(p);
  EXPECT_EQ(pool.refcount(p), 3);
  pool.release(p);
  pool.release(p);
  EXPECT_EQ(pool.refcount(p), 1);
  EXPECT_EQ(pool.num_free(), 1);
  pool.release(p);
  EXPECT_EQ(pool.refcount(p), 0);
  EXPECT_EQ(pool.num_free(), 2);
  auto fl = pool.free_pages();
  EXPECT_EQ(std::count(fl.begin(), fl.end(), p), 1);
  // A released page can be allocated again.
  PageId a = pool.allocate(), b = pool.allocate();
  EXPECT_TRUE(a == p || b == p);
}

TEST(PagePool, MisuseIsAnError) {
  PagePool pool(2);
  EXPECT_THROW(pool.retain(0), Error);   // free page
  EXPECT_THROW(pool.release(0), Error);  // already free
  EXPECT_THROW(pool.retain(2), Error);
  EXPECT_THROW(pool.release(-1), Error);
  EXPECT_THROW(pool.refcount(7), Error);
  EXPECT_EQ(pool.num_free(), 2);  // nothing changed
  EXPECT_EQ(pool.refcount(0), 0);
}

}  // namespace
}  // namespace qwen3
