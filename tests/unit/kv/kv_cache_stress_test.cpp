// Randomised stress test: thousands of random operations on a few sequences over a small pool,
// mirrored in a plain model (each sequence = the list of token tags it holds, plus its capacity).
// After every operation the cache's bookkeeping and data are compared with the model and
// check_invariants() runs; expected failures must throw the right type and change nothing.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <type_traits>

#include "kv/kv_cache.h"
#include "kv_test_util.h"

namespace qwen3 {
namespace {

using kvtest::holds_token;
using kvtest::snapshot;
using kvtest::write_token;

struct ModelSeq {
  std::vector<int64_t> tags;  // token i of the sequence holds K/V pattern(tags[i], ...)
  int64_t capacity = 0;
};

struct StressParams {
  int page_size;
  int64_t num_pages;
  uint32_t seed;
  int num_ops;
  DType dtype = DType::F32;
};

void PrintTo(const StressParams& p, std::ostream* os) {
  *os << "page_size " << p.page_size << ", num_pages " << p.num_pages << ", seed " << p.seed
      << ", " << p.num_ops << " ops, " << dtype_name(p.dtype);
}

class KvCacheStress : public ::testing::TestWithParam<StressParams> {
 protected:
  void SetUp() override {
    const auto& p = GetParam();
    cache_ = std::make_unique<KvCache>(kvtest::small_options(p.num_pages, p.page_size, p.dtype));
    rng_.seed(p.seed);
  }

  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int64_t round_up(int64_t n) const { return (n + ps() - 1) / ps() * ps(); }
  int64_t ps() const { return GetParam().page_size; }

  SeqId random_seq() {
    auto it = model_.begin();
    std::advance(it, uniform(0, int64_t(model_.size()) - 1));
    return it->first;
  }

  // Runs `f`, which must throw E, and checks that nothing changed.
  template <typename E, typename F>
  void expect_failure(const char* op, F f) {
    const auto before = snapshot(*cache_);
    bool threw = false;
    try {
      f();
    } catch (const KvCacheFull& e) {
      threw = true;
      if constexpr (!std::is_same_v<E, KvCacheFull>)
        ADD_FAILURE() << op << ": misuse reported as KvCacheFull: " << e.what();
    } catch (const Error& e) {
      threw = true;
      if constexpr (std::is_same_v<E, KvCacheFull>)
        ADD_FAILURE() << op << ": expected KvCacheFull, got " << e.what();
    }
    EXPECT_TRUE(threw) << op << " should have thrown";
    if constexpr (std::is_same_v<E, KvCacheFull>) ++full_failures_;
    EXPECT_TRUE(before == snapshot(*cache_)) << op << " changed state while failing";
  }

  void op_add() {
    const SeqId id = next_id_++;
    cache_->add_sequence(id);
    model_[id] = {};
  }

  void op_remove() {
    const SeqId id = random_seq();
    const int64_t free_before = cache_->num_free_pages();
    const int64_t pages = int64_t(cache_->block_table(id).size());
    cache_->remove_sequence(id);
    model_.erase(id);
    EXPECT_LE(cache_->num_free_pages(), free_before + pages);
    EXPECT_GE(cache_->num_free_pages(), free_before);
  }

  void op_fork() {
    const SeqId parent = random_seq();
    const SeqId child = next_id_++;
    const ModelSeq& m = model_.at(parent);
    const int64_t need = int64_t(m.tags.size()) % ps() != 0 ? 1 : 0;
    const int64_t free_before = cache_->num_free_pages();
    if (need > free_before) {
      expect_failure<KvCacheFull>("fork", [&] { cache_->fork(parent, child); });
      return;
    }
    cache_->fork(parent, child);
    EXPECT_EQ(cache_->num_free_pages(), free_before - need);
    model_[child] = ModelSeq{m.tags, round_up(int64_t(m.tags.size()))};
    // Full pages are shared with the parent.
    auto pt = cache_->block_table(parent);
    auto ct = cache_->block_table(child);
    for (size_t i = 0; i < m.tags.size() / size_t(ps()); ++i) EXPECT_EQ(pt[i], ct[i]);
  }

  // reserve n, write m <= n tokens, commit them (sometimes in two steps).
  void op_append() {
    const SeqId id = random_seq();
    ModelSeq& m = model_.at(id);
    const int64_t n = uniform(0, 3 * ps() + 1);
    const int64_t needed = cache_->pages_needed(id, n);
    const int64_t free_before = cache_->num_free_pages();
    if (needed > free_before) {
      expect_failure<KvCacheFull>("reserve", [&] { cache_->reserve(id, n); });
      return;
    }
    const size_t next = m.tags.size() / size_t(ps());  // page index of the next write
    auto table = cache_->block_table(id);
    const bool cow = n > 0 && next < table.size() && cache_->pool().refcount(table[next]) > 1;
    const PageId old_page = cow ? table[next] : -1;
    cache_->reserve(id, n);
    EXPECT_EQ(cache_->num_free_pages(), free_before - needed);
    if (cow) {
      ++cow_copies_;
      EXPECT_NE(cache_->block_table(id)[next], old_page) << "shared page not copied";
    }
    if (n > 0) m.capacity = std::max(m.capacity, round_up(int64_t(m.tags.size()) + n));
    ASSERT_EQ(cache_->capacity(id), m.capacity);
    EXPECT_EQ(cache_->pages_needed(id, n), 0);  // reserve is idempotent
    const int64_t written = chance(0.8) ? n : uniform(0, n);
    const int64_t start = int64_t(m.tags.size());
    for (int64_t i = 0; i < written; ++i) {
      const int64_t tag = next_tag_++;
      write_token(*cache_, id, start + i, tag);
      m.tags.push_back(tag);
    }
    const int64_t first = uniform(0, written);
    cache_->commit(id, first);
    cache_->commit(id, written - first);
  }

  void op_pop() {
    const SeqId id = random_seq();
    ModelSeq& m = model_.at(id);
    const int64_t n =
        chance(0.3) ? int64_t(m.tags.size()) - uniform(0, 1) : uniform(0, int64_t(m.tags.size()));
    if (n < 0) return;
    const int64_t free_before = cache_->num_free_pages();
    cache_->pop(id, n);
    m.tags.resize(m.tags.size() - size_t(n));
    m.capacity = round_up(int64_t(m.tags.size()));
    EXPECT_GE(cache_->num_free_pages(), free_before);
  }

  void op_misuse() {
    const SeqId id = random_seq();
    const ModelSeq& m = model_.at(id);
    switch (uniform(0, 8)) {
      case 0:
        expect_failure<Error>("pop too many",
                              [&] { cache_->pop(id, int64_t(m.tags.size()) + uniform(1, 3)); });
        break;
      case 1:
        expect_failure<Error>("pop negative", [&] { cache_->pop(id, -uniform(1, 3)); });
        break;
      case 2:
        expect_failure<Error>("commit beyond capacity", [&] {
          cache_->commit(id, m.capacity - int64_t(m.tags.size()) + uniform(1, 3));
        });
        break;
      case 3:
        expect_failure<Error>("reserve negative", [&] { cache_->reserve(id, -1); });
        break;
      case 4:
        expect_failure<Error>("add duplicate", [&] { cache_->add_sequence(id); });
        break;
      case 5:
        expect_failure<Error>("fork onto existing", [&] { cache_->fork(random_seq(), id); });
        break;
      case 6:
        expect_failure<Error>("unknown sequence", [&] { cache_->remove_sequence(next_id_ + 100); });
        break;
      case 7:
        expect_failure<Error>("key beyond capacity", [&] { (void)cache_->key(0, id, m.capacity); });
        break;
      case 8: {  // a write into a shared page without reserve() is caught at commit
        const size_t next = m.tags.size() / size_t(ps());
        auto table = cache_->block_table(id);
        if (next < table.size() && cache_->pool().refcount(table[next]) > 1) {
          expect_failure<Error>("commit into shared page", [&] { cache_->commit(id, 1); });
        }
        break;
      }
    }
  }

  void verify(const std::string& after) {
    SCOPED_TRACE("after " + after);
    ASSERT_NO_THROW(cache_->check_invariants());
    std::vector<SeqId> ids;
    for (const auto& [id, m] : model_) ids.push_back(id);
    ASSERT_EQ(cache_->sequences(), ids);
    for (const auto& [id, m] : model_) {
      ASSERT_EQ(cache_->num_tokens(id), int64_t(m.tags.size())) << "seq " << id;
      ASSERT_EQ(cache_->capacity(id), m.capacity) << "seq " << id;
      for (size_t i = 0; i < m.tags.size(); ++i)
        ASSERT_TRUE(holds_token(*cache_, id, int64_t(i), m.tags[i]));
    }
  }

  std::unique_ptr<KvCache> cache_;
  std::map<SeqId, ModelSeq> model_;
  std::mt19937 rng_;
  SeqId next_id_ = 0;
  int64_t next_tag_ = 0;
  int full_failures_ = 0;  // KvCacheFull thrown as expected
  int cow_copies_ = 0;     // reserve() replaced a shared page
};

TEST_P(KvCacheStress, RandomOperationsMatchTheModel) {
  constexpr size_t kMaxSeqs = 6;
  std::map<std::string, int> counts;  // how often each op ran, to show the mix is sane
  for (int step = 0; step < GetParam().num_ops; ++step) {
    std::string name;
    const int64_t r = uniform(0, 99);
    if (model_.empty() || (r < 8 && model_.size() < kMaxSeqs)) {
      name = "add";
      op_add();
    } else if (r < 16 || (r < 25 && model_.size() >= kMaxSeqs)) {
      name = "remove";
      op_remove();
    } else if (r < 28 && model_.size() < kMaxSeqs) {
      name = "fork";
      op_fork();
    } else if (r < 65) {
      name = "append";
      op_append();
    } else if (r < 90) {
      name = "pop";
      op_pop();
    } else {
      name = "misuse";
      op_misuse();
    }
    ++counts[name];
    verify(name + " at step " + std::to_string(step));
    if (HasFatalFailure() || HasNonfatalFailure()) {
      FAIL() << "stopping at step " << step;
    }
  }
  std::string mix;
  for (const auto& [n, c] : counts) mix += n + "=" + std::to_string(c) + " ";
  mix += "kv_cache_full=" + std::to_string(full_failures_) + " cow=" + std::to_string(cow_copies_);
  RecordProperty("op_mix", mix);
  std::printf("[ op mix   ] %s\n", mix.c_str());
  for (const char* op : {"add", "remove", "fork", "append", "pop", "misuse"})
    EXPECT_GT(counts[op], 0) << op;
  EXPECT_GT(full_failures_, 0) << "the pool never ran out: the failure path was not exercised";
  // With one-token pages pop() trims to exactly num_tokens, so no write can land in a shared page.
  if (ps() > 1) {
    EXPECT_GT(cow_copies_, 0) << "copy-on-write was not exercised";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pools, KvCacheStress,
    ::testing::Values(StressParams{.page_size = 4, .num_pages = 24, .seed = 1, .num_ops = 4000},
                      StressParams{.page_size = 4, .num_pages = 10, .seed = 2, .num_ops = 4000},
                      StressParams{.page_size = 1, .num_pages = 40, .seed = 3, .num_ops = 3000},
                      StressParams{.page_size = 3, .num_pages = 16, .seed = 4, .num_ops = 3000},
                      StressParams{.page_size = 16, .num_pages = 6, .seed = 5, .num_ops = 3000},
                      // 16-bit caches: the same bookkeeping, pages and copy-on-write copies of half
                      // the bytes per element.
                      StressParams{.page_size = 4, .num_pages = 10, .seed = 6, .num_ops = 3000, .dtype = DType::BF16},
                      StressParams{.page_size = 3, .num_pages = 16, .seed = 7, .num_ops = 3000, .dtype = DType::F16}),
    [](const ::testing::TestParamInfo<StressParams>& info) {
      return "ps" + std::to_string(info.param.page_size) + "_pages" +
             std::to_string(info.param.num_pages) + "_seed" + std::to_string(info.param.seed) + "_" +
             std::string(dtype_name(info.param.dtype));
    });

}  // namespace
}  // namespace qwen3
