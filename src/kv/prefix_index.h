// The prefix cache's bookkeeping: which full pages hold which token prefixes, and which of them no
// sequence holds any more (evictable, least recently released first). No KV memory and no
// refcounts here: KvCache owns those and calls in.
//
// A cached page is named by the hash chain of its tokens: key(page i) = hash(key(page i - 1), the
// page's page_size token ids). The hash only finds candidates: a hit also compares the page's
// stored tokens and its parent's serial (a number given to each cached page once, never reused), so
// a hit at page i means exactly "these page_size tokens after exactly that cached page", and by
// induction from the root the whole prefix is equal token for token. A hash collision costs a miss,
// never wrong K/V.
//
// The key holds no identity of the model, quantization or KV dtype: one index belongs to one
// KvCache, whose pages are all written by the one model it was made for. A cache shared between
// differently configured models would have to mix that identity into the root key.
//
// Everything is allocated in the constructor (arrays indexed by page, an intrusive bucket chain and
// an intrusive LRU list), so no operation allocates or throws after construction: KvCache can call
// in after it has started changing its state.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace qwen3 {

using PageId = int32_t;

class PrefixIndex {
 public:
  // Where a chain stands after some whole pages: the last page's key and serial; {root, 0} before
  // the first page.
  struct Link {
    uint64_t key = 0;
    uint64_t serial = 0;
    bool operator==(const Link&) const = default;
  };

  // key_mask < ~0 keeps fewer key bits: for tests that force hash collisions.
  PrefixIndex(int64_t num_pages, int page_size, uint64_t key_mask = ~uint64_t{0});
  Link root() const { return Link{root_key_, 0}; }
  uint64_t key_of(uint64_t parent_key, std::span<const int32_t> tokens) const;  // tokens: one page

  // The cached page holding `tokens` (one page) right after `parent`, or -1; *link gets its link.
  PageId find(Link parent, std::span<const int32_t> tokens, Link* link) const;
  bool contains(PageId page) const { return serial_[size_t(page)] != 0; }
  Link link(PageId page) const { return {key_[size_t(page)], serial_[size_t(page)]}; }
  // Caches `page` (not cached) as holding `tokens` after `parent`; the caller checked with find()
  // that no cached page holds the same.
  Link insert(PageId page, Link parent, std::span<const int32_t> tokens);
  void erase(PageId page);  // cached and not parked

  // The evictable pages: cached pages that no sequence holds, most recently parked last.
  void park(PageId page);    // cached, not parked
  void unpark(PageId page);  // parked
  bool parked(PageId page) const { return parked_[size_t(page)] != 0; }
  PageId oldest_parked() const { return lru_head_; }  // -1 when none
  int64_t num_parked() const { return num_parked_; }
  int64_t size() const { return size_; }  // cached pages, parked or not

  std::span<const int32_t> tokens(PageId page) const {
    return {tokens_.data() + size_t(page) * size_t(page_size_), size_t(page_size_)};
  }
  // Throws qwen3::Error naming a broken invariant: bucket chains, keys and the LRU list agree.
  void check_invariants() const;

 private:
  size_t bucket(uint64_t key) const { return size_t(key & (buckets_.size() - 1)); }

  int page_size_;
  uint64_t key_mask_, root_key_;
  uint64_t next_serial_ = 1;
  // Per page; serial_ 0 means "not cached".
  std::vector<uint64_t> key_, parent_key_, serial_, parent_serial_;
  std::vector<int32_t> tokens_;        // [num_pages, page_size]
  std::vector<PageId> buckets_;        // head of each bucket's chain, -1 if empty; size a power of 2
  std::vector<PageId> chain_next_;     // next page in the same bucket, -1 at the end
  std::vector<PageId> lru_prev_, lru_next_;
  std::vector<uint8_t> parked_;
  PageId lru_head_ = -1, lru_tail_ = -1;  // head: least recently parked (evicted first)
  int64_t num_parked_ = 0, size_ = 0;
};

}  // namespace qwen3
