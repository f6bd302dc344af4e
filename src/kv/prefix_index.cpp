#include "kv/prefix_index.h"

#include <algorithm>

#include "core/error.h"

namespace qwen3 {

namespace {
// splitmix64's finaliser: every input bit reaches every output bit.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

PrefixIndex::PrefixIndex(int64_t num_pages, int page_size, uint64_t key_mask)
    : page_size_(page_size), key_mask_(key_mask), root_key_(mix(0x7177656e33ULL) & key_mask) {
  const size_t n = size_t(num_pages);
  size_t nb = 1;
  while (nb < n) nb <<= 1;  // load factor <= 1
  key_.assign(n, 0);
  parent_key_.assign(n, 0);
  serial_.assign(n, 0);
  parent_serial_.assign(n, 0);
  tokens_.assign(n * size_t(page_size), 0);
  buckets_.assign(nb, -1);
  chain_next_.assign(n, -1);
  lru_prev_.assign(n, -1);
  lru_next_.assign(n, -1);
  parked_.assign(n, 0);
}

uint64_t PrefixIndex::key_of(uint64_t parent_key, std::span<const int32_t> tokens) const {
  uint64_t h = mix(parent_key ^ 0x9e3779b97f4a7c15ULL);
  for (int32_t t : tokens) h = mix(h ^ (uint64_t(uint32_t(t)) + 0x9e3779b97f4a7c15ULL));
  return h & key_mask_;
}

PageId PrefixIndex::find(Link parent, std::span<const int32_t> tokens, Link* link) const {
  const uint64_t key = key_of(parent.key, tokens);
  for (PageId p = buckets_[bucket(key)]; p >= 0; p = chain_next_[size_t(p)]) {
    const size_t i = size_t(p);
    if (key_[i] != key || parent_serial_[i] != parent.serial) continue;
    const auto stored = this->tokens(p);
    if (!std::equal(stored.begin(), stored.end(), tokens.begin(), tokens.end())) continue;
    if (link) *link = Link{key, serial_[i]};
    return p;
  }
  return -1;
}

PrefixIndex::Link PrefixIndex::insert(PageId page, Link parent, std::span<const int32_t> tokens) {
  const size_t i = size_t(page);
  const uint64_t key = key_of(parent.key, tokens);
  key_[i] = key;
  parent_key_[i] = parent.key;
  serial_[i] = next_serial_++;
  parent_serial_[i] = parent.serial;
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + ptrdiff_t(i * size_t(page_size_)));
  PageId& head = buckets_[bucket(key)];
  chain_next_[i] = head;
  head = page;
  ++size_;
  return Link{key, serial_[i]};
}

void PrefixIndex::erase(PageId page) {
  const size_t i = size_t(page);
  PageId* at = &buckets_[bucket(key_[i])];
  while (*at != page) at = &chain_next_[size_t(*at)];
  *at = chain_next_[i];
  chain_next_[i] = -1;
  serial_[i] = 0;
  --size_;
}

void PrefixIndex::park(PageId page) {
  const size_t i = size_t(page);
  parked_[i] = 1;
  lru_prev_[i] = lru_tail_;
  lru_next_[i] = -1;
  if (lru_tail_ >= 0) lru_next_[size_t(lru_tail_)] = page;
  else lru_head_ = page;
  lru_tail_ = page;
  ++num_parked_;
}

void PrefixIndex::unpark(PageId page) {
  const size_t i = size_t(page);
  const PageId prev = lru_prev_[i], next = lru_next_[i];
  if (prev >= 0) lru_next_[size_t(prev)] = next;
  else lru_head_ = next;
  if (next >= 0) lru_prev_[size_t(next)] = prev;
  else lru_tail_ = prev;
  lru_prev_[i] = lru_next_[i] = -1;
  parked_[i] = 0;
  --num_parked_;
}

void PrefixIndex::check_invariants() const {
  const int64_t np = int64_t(serial_.size());
  int64_t chained = 0;
  std::vector<uint8_t> seen(size_t(np), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (PageId p = buckets_[b]; p >= 0; p = chain_next_[size_t(p)]) {
      if (p >= np) fail("prefix cache invariant: bucket {} chains page {} out of range", b, p);
      if (seen[size_t(p)]) fail("prefix cache invariant: page {} is chained twice (or a chain loops)", p);
      seen[size_t(p)] = 1;
      if (!contains(p)) fail("prefix cache invariant: page {} is chained but not cached", p);
      if (bucket(key_[size_t(p)]) != b) fail("prefix cache invariant: page {} is in bucket {} not its own", p, b);
      if (key_of(parent_key_[size_t(p)], tokens(p)) != key_[size_t(p)])
        fail("prefix cache invariant: page {}'s key is not the hash of its parent key and tokens", p);
      if (parent_serial_[size_t(p)] >= serial_[size_t(p)])
        fail("prefix cache invariant: page {} was cached before its parent", p);
      ++chained;
    }
  }
  if (chained != size_) fail("prefix cache invariant: {} pages chained but {} cached", chained, size_);
  int64_t listed = 0;
  PageId prev = -1;
  for (PageId p = lru_head_; p >= 0; prev = p, p = lru_next_[size_t(p)]) {
    if (p >= np || ++listed > np) fail("prefix cache invariant: the LRU list is broken at page {}", p);
    if (lru_prev_[size_t(p)] != prev) fail("prefix cache invariant: LRU page {} has a wrong back link", p);
    if (!parked_[size_t(p)] || !contains(p)) fail("prefix cache invariant: LRU page {} is not a parked cached page", p);
  }
  if (prev != lru_tail_) fail("prefix cache invariant: the LRU list does not end at its tail");
  const int64_t flagged = std::count(parked_.begin(), parked_.end(), uint8_t{1});
  if (listed != num_parked_ || flagged != num_parked_)
    fail("prefix cache invariant: {} pages listed, {} flagged parked, count {}", listed, flagged, num_parked_);
}

}  // namespace qwen3
