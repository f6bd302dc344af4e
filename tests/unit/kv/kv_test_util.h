// Helpers shared by the KV cache tests: a small cache, a recognisable K/V pattern per token, and a
// snapshot of everything observable (for "a failed operation changed nothing").
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "kv/kv_cache.h"

namespace qwen3::kvtest {

inline KvCacheOptions small_options(int64_t num_pages = 8, int page_size = 4, DType dtype = DType::F32) {
  return KvCacheOptions{.num_layers = 2,
                        .num_kv_heads = 2,
                        .head_dim = 3,
                        .page_size = page_size,
                        .num_pages = num_pages,
                        .dtype = kv_dtype_of(dtype)};
}

inline int token_floats(const KvCacheOptions& o) { return o.num_kv_heads * o.head_dim; }

// The value stored for element `e` of K (is_v = 0) or V (is_v = 1) of a token tagged `tag` in
// `layer`. Integers below 2^24, so exact in float32, and distinct across tags (mod 2^16), layers
// (< 16), elements (< 8), K and V.
inline float pattern(int64_t tag, int layer, int e, int is_v) {
  return float((tag % 65536) * 256 + layer * 16 + e * 2 + is_v);
}

// The stored bits of element `e`: pattern()'s float for F32; for the 16-bit types a 16-bit code,
// distinct across layers, elements, K and V of one tag (tags collide only 256 apart at best).
// Storage and copies move bits, so raw codes test them without any float rounding.
inline uint32_t pattern_bits(DType dt, int64_t tag, int layer, int e, int is_v) {
  if (dt == DType::F32) {
    const float f = pattern(tag, layer, e, is_v);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  }
  return uint16_t(uint32_t(tag) * 257u + uint32_t(layer * 16 + e * 2 + is_v));
}
inline uint32_t load_bits(const std::byte* p, DType dt, int e) {
  uint32_t u = 0;
  std::memcpy(&u, p + size_t(e) * dtype_size(dt), dtype_size(dt));  // little endian
  return u;
}
inline void store_bits(std::byte* p, DType dt, int e, uint32_t u) {
  std::memcpy(p + size_t(e) * dtype_size(dt), &u, dtype_size(dt));
}

// Writes token `tag` into position `pos` of `seq` through KvCache::key()/value().
inline void write_token(KvCache& c, SeqId seq, int64_t pos, int64_t tag) {
  const int n = token_floats(c.options());
  const DType dt = float_dtype_of(c.options().dtype);
  ASSERT_TRUE(n <= 8 && c.options().num_layers <= 16)
      << "pattern() is not injective for these options";
  for (int l = 0; l < c.options().num_layers; ++l) {
    std::byte* k = c.key(l, seq, pos);
    std::byte* v = c.value(l, seq, pos);
    for (int e = 0; e < n; ++e) {
      store_bits(k, dt, e, pattern_bits(dt, tag, l, e, 0));
      store_bits(v, dt, e, pattern_bits(dt, tag, l, e, 1));
    }
  }
}

// Whether position `pos` of `seq` holds token `tag`, read through the block table and storage()
// (not through key(), so both address paths are exercised).
inline ::testing::AssertionResult holds_token(const KvCache& c, SeqId seq, int64_t pos,
                                              int64_t tag) {
  const auto& o = c.options();
  auto table = c.block_table(seq);
  const PageId page = table[size_t(pos / o.page_size)];
  const int slot = int(pos % o.page_size);
  for (int l = 0; l < o.num_layers; ++l) {
    const std::byte* k = c.storage().key(l, page, slot);
    const std::byte* v = c.storage().value(l, page, slot);
    for (int e = 0; e < token_floats(o); ++e) {
      const uint32_t kb = load_bits(k, float_dtype_of(o.dtype), e), vb = load_bits(v, float_dtype_of(o.dtype), e);
      if (kb != pattern_bits(float_dtype_of(o.dtype), tag, l, e, 0) || vb != pattern_bits(float_dtype_of(o.dtype), tag, l, e, 1)) {
        return ::testing::AssertionFailure()
               << "seq " << seq << " pos " << pos << " layer " << l << " elem " << e << ": K bits "
               << kb << " V bits " << vb << ", expected tag " << tag;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Reserves, writes tokens tags[0..] at the end of `seq`, commits.
inline void append(KvCache& c, SeqId seq, const std::vector<int64_t>& tags) {
  c.reserve(seq, int64_t(tags.size()));
  const int64_t start = c.num_tokens(seq);
  for (size_t i = 0; i < tags.size(); ++i) write_token(c, seq, start + int64_t(i), tags[i]);
  c.commit(seq, int64_t(tags.size()));
}

inline std::vector<int64_t> iota_tags(int64_t first, int64_t count) {
  std::vector<int64_t> t;
  for (int64_t i = 0; i < count; ++i) t.push_back(first + i);
  return t;
}

struct SeqState {
  int64_t num_tokens;
  int64_t capacity;
  std::vector<PageId> pages;
  bool operator==(const SeqState&) const = default;
};

struct Snapshot {
  int64_t num_free;
  std::vector<PageId> free_list;
  std::vector<int> refcounts;
  std::vector<int> parked_cached;  // per page: parked * 2 + cached (prefix cache)
  std::map<SeqId, SeqState> seqs;
  std::vector<std::byte> data;  // every K and V byte of every page
  bool operator==(const Snapshot&) const = default;
};

inline Snapshot snapshot(const KvCache& c) {
  Snapshot s;
  const auto& o = c.options();
  s.num_free = c.num_free_pages();
  auto fl = c.pool().free_pages();
  s.free_list.assign(fl.begin(), fl.end());
  for (PageId p = 0; p < o.num_pages; ++p) s.refcounts.push_back(c.pool().refcount(p));
  for (PageId p = 0; p < o.num_pages; ++p)
    s.parked_cached.push_back(int(c.pool().parked(p)) * 2 + int(c.prefix_index().contains(p)));
  for (SeqId id : c.sequences()) {
    auto t = c.block_table(id);
    s.seqs[id] =
        SeqState{c.num_tokens(id), c.capacity(id), std::vector<PageId>(t.begin(), t.end())};
  }
  for (int l = 0; l < o.num_layers; ++l) {
    for (PageId p = 0; p < o.num_pages; ++p) {
      for (int slot = 0; slot < o.page_size; ++slot) {
        const size_t bytes = c.storage().token_bytes();
        const std::byte* k = c.storage().key(l, p, slot);
        const std::byte* v = c.storage().value(l, p, slot);
        s.data.insert(s.data.end(), k, k + bytes);
        s.data.insert(s.data.end(), v, v + bytes);
      }
    }
  }
  return s;
}

}  // namespace qwen3::kvtest
