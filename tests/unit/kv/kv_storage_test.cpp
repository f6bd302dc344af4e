// KvStorage: option checks, layout, copy_page.
#include <gtest/gtest.h>

#include <string>

#include "kv/kv_cache.h"
#include "kv_test_util.h"

namespace qwen3 {
namespace {

using kvtest::small_options;

void expect_error_naming(const KvCacheOptions& o, const std::string& option) {
  for (int which = 0; which < 2; ++which) {
    try {
      if (which == 0) {
        KvStorage s(o);
      } else {
        KvCache c(o);
      }
      ADD_FAILURE() << "expected an error naming " << option;
    } catch (const KvCacheFull& e) {
      ADD_FAILURE() << "bad options must not be reported as a full cache: " << e.what();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
    }
  }
}

TEST(KvStorage, RejectsZeroOrNegativeOptions) {
  auto o = small_options();
  o.num_layers = 0;
  expect_error_naming(o, "num_layers");
  o = small_options();
  o.num_kv_heads = -1;
  expect_error_naming(o, "num_kv_heads");
  o = small_options();
  o.head_dim = 0;
  expect_error_naming(o, "head_dim");
  o = small_options();
  o.page_size = 0;
  expect_error_naming(o, "page_size");
  o = small_options();
  o.page_size = -16;
  expect_error_naming(o, "page_size");
  o = small_options();
  o.num_pages = 0;
  expect_error_naming(o, "num_pages");
  o = small_options();
  o.num_pages = -5;
  expect_error_naming(o, "num_pages");
  expect_error_naming(KvCacheOptions{}, "num_layers");  // all zero: the first one is named
}

TEST(KvStorage, RejectsAbsurdSizes) {
  // Qwen3-0.6B shapes with 2^31 - 1 pages: far beyond any memory, must fail before allocating.
  KvCacheOptions o{.num_layers = 28,
                   .num_kv_heads = 8,
                   .head_dim = 128,
                   .page_size = 16,
                   .num_pages = (int64_t{1} << 31) - 1};
  expect_error_naming(o, "limit");
  o.num_pages = int64_t{1} << 31;  // does not fit a PageId
  expect_error_naming(o, "num_pages");
  o.num_pages = INT64_MAX;
  expect_error_naming(o, "num_pages");
  // Every factor at the int maximum: the product overflows 64 bits if computed naively.
  KvCacheOptions huge{.num_layers = INT32_MAX,
                      .num_kv_heads = INT32_MAX,
                      .head_dim = INT32_MAX,
                      .page_size = INT32_MAX,
                      .num_pages = INT32_MAX};
  expect_error_naming(huge, "limit");
}

TEST(KvStorage, SizeAndLayoutInEachDtype) {
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    SCOPED_TRACE(dtype_name(dt));
    KvStorage s(small_options(/*num_pages=*/5, /*page_size=*/4, dt));
    const ptrdiff_t es = ptrdiff_t(dtype_size(dt)), per_layer = 5 * 4 * 2 * 3 * es;  // bytes
    EXPECT_EQ(s.dtype(), kv_dtype_of(dt));
    EXPECT_EQ(ptrdiff_t(s.token_bytes()), 6 * es);
    EXPECT_EQ(ptrdiff_t(s.bytes()), 2 * 2 * per_layer);
    // [num_pages, page_size, num_kv_heads, head_dim] per layer: consecutive slots are adjacent.
    EXPECT_EQ(s.key(0, 0, 1) - s.key(0, 0, 0), 6 * es);
    EXPECT_EQ(s.key(0, 1, 0) - s.key(0, 0, 0), 4 * 6 * es);
    EXPECT_EQ(s.key(1, 0, 0) - s.key(0, 0, 0), per_layer);
    EXPECT_EQ(s.value(1, 4, 3) - s.value(0, 0, 0), 2 * per_layer - 6 * es);
    for (int e = 0; e < 6; ++e) EXPECT_EQ(kvtest::load_bits(s.key(1, 4, 3), dt, e), 0u);  // zero-initialised
  }
}

// Quantized types: per (token, KV head) f16 block scales then one byte per element.
TEST(KvStorage, QuantizedTypesHoldScalesAndCodes) {
  for (auto [dt, head_bytes] : {std::pair{KvDType::Q8, 3 + 2}, {KvDType::Q8Head, 3 + 2}, {KvDType::FP8, 3 + 2}}) {
    SCOPED_TRACE(kv_dtype_name(dt));
    KvCacheOptions o = small_options(5, 4);
    o.dtype = dt;
    KvStorage s(o);
    EXPECT_EQ(ptrdiff_t(s.token_bytes()), 2 * head_bytes);  // 2 KV heads of head_dim 3
    EXPECT_EQ(s.key(0, 0, 1) - s.key(0, 0, 0), 2 * head_bytes);
    EXPECT_EQ(ptrdiff_t(s.bytes()), 2 * 2 * 5 * 4 * 2 * head_bytes);
  }
  KvCacheOptions o = small_options(1, 1);
  o.head_dim = 40, o.dtype = KvDType::Q8;  // two blocks of 32: 4 bytes of scales
  EXPECT_EQ(KvStorage(o).token_bytes(), size_t(o.num_kv_heads) * (40 + 4));
  o.dtype = KvDType::Q8Head;                // one scale
  EXPECT_EQ(KvStorage(o).token_bytes(), size_t(o.num_kv_heads) * (40 + 2));
}

TEST(KvStorage, OutOfRangeAccessIsAnError) {
  KvStorage s(small_options(4, 4));
  EXPECT_THROW(s.key(2, 0, 0), Error);
  EXPECT_THROW(s.key(-1, 0, 0), Error);
  EXPECT_THROW(s.value(0, 4, 0), Error);
  EXPECT_THROW(s.value(0, -1, 0), Error);
  EXPECT_THROW(s.key(0, 0, 4), Error);
  const KvStorage& cs = s;
  EXPECT_THROW(cs.value(0, 0, -1), Error);
  EXPECT_THROW(s.copy_page(4, 0, 1), Error);
  EXPECT_THROW(s.copy_page(0, -1, 1), Error);
  EXPECT_THROW(s.copy_page(0, 1, 5), Error);
  EXPECT_THROW(s.copy_page(0, 1, -1), Error);
}

TEST(KvStorage, CopyPageCopiesOnlyTheGivenSlotsOfEveryLayer) {
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    SCOPED_TRACE(dtype_name(dt));
    auto o = small_options(4, 4, dt);
    KvStorage s(o);
    const int n = kvtest::token_floats(o);
    const uint32_t mark = dt == DType::F32 ? 0xbf800000u : 0xbf80u;  // -1 in f32 / bf16
    for (int l = 0; l < o.num_layers; ++l) {
      for (int slot = 0; slot < o.page_size; ++slot) {
        for (int e = 0; e < n; ++e) {
          kvtest::store_bits(s.key(l, 1, slot), dt, e, kvtest::pattern_bits(dt, slot, l, e, 0));
          kvtest::store_bits(s.value(l, 1, slot), dt, e, kvtest::pattern_bits(dt, slot, l, e, 1));
          kvtest::store_bits(s.key(l, 2, slot), dt, e, mark);
          kvtest::store_bits(s.value(l, 2, slot), dt, e, mark);
        }
      }
    }
    s.copy_page(/*dst=*/2, /*src=*/1, /*num_slots=*/3);
    for (int l = 0; l < o.num_layers; ++l) {
      for (int slot = 0; slot < o.page_size; ++slot) {
        for (int e = 0; e < n; ++e) {
          const bool copied = slot < 3;
          EXPECT_EQ(kvtest::load_bits(s.key(l, 2, slot), dt, e), copied ? kvtest::pattern_bits(dt, slot, l, e, 0) : mark);
          EXPECT_EQ(kvtest::load_bits(s.value(l, 2, slot), dt, e), copied ? kvtest::pattern_bits(dt, slot, l, e, 1) : mark);
          EXPECT_EQ(kvtest::load_bits(s.key(l, 1, slot), dt, e), kvtest::pattern_bits(dt, slot, l, e, 0));  // source untouched
        }
      }
    }
    s.copy_page(2, 2, 4);  // self-copy is a no-op
    s.copy_page(3, 1, 0);  // zero slots: nothing
    EXPECT_EQ(kvtest::load_bits(s.key(0, 3, 0), dt, 0), 0u);
  }
}

}  // namespace
}  // namespace qwen3
