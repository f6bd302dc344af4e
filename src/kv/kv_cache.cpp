// Paged KV cache. See kv_cache.h for the contract and the invariants.
//
// How the strong exception guarantee is kept: every operation first validates its arguments and
// checks that the pool has enough free pages, then does everything that can allocate memory
// (std::vector growth, map insertion) before it touches the pool or a block table. What follows is
// nothrow: PagePool::free_ has capacity num_pages from the start, so release() never reallocates.
#include "kv/kv_cache.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <limits>
#include <new>

namespace qwen3 {

namespace {

// Beyond this the options are a mistake (a wrong unit, a negative number read as unsigned), not a
// cache: 1 TiB is several times the memory of any machine this engine targets.
constexpr uint64_t kMaxKvBytes = uint64_t{1} << 40;

int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// Checks every option and that the total size is sane; returns the option struct so that
// constructors can call it in their member initialiser lists.
const KvCacheOptions& checked(const KvCacheOptions& o) {
  if (o.num_layers <= 0) fail("KV cache: num_layers must be positive, got {}", o.num_layers);
  if (o.num_kv_heads <= 0) fail("KV cache: num_kv_heads must be positive, got {}", o.num_kv_heads);
  if (o.head_dim <= 0) fail("KV cache: head_dim must be positive, got {}", o.head_dim);
  if (o.page_size <= 0) fail("KV cache: page_size must be positive, got {}", o.page_size);
  if (o.num_pages <= 0) fail("KV cache: num_pages must be positive, got {}", o.num_pages);
  if (o.num_pages > std::numeric_limits<PageId>::max()) {
    fail("KV cache: num_pages {} exceeds the PageId limit {}", o.num_pages,
         std::numeric_limits<PageId>::max());
  }
  // K and V: 2 * num_layers * num_pages * page_size * num_kv_heads heads of kv_head_bytes. Multiply
  // with overflow checks; every factor is positive and < 2^31 (the first < 2^35), and the cap keeps
  // products far below 2^64 once it is reached.
  uint64_t bytes = 2 * kv_head_bytes(o.dtype, o.head_dim);
  for (uint64_t f : {uint64_t(o.num_layers), uint64_t(o.num_pages), uint64_t(o.page_size),
                     uint64_t(o.num_kv_heads)}) {
    if (bytes > kMaxKvBytes / f) {
      fail(
          "KV cache: num_layers {} x num_pages {} x page_size {} x num_kv_heads {} x head_dim {} "
          "needs more than the {} GiB limit",
          o.num_layers, o.num_pages, o.page_size, o.num_kv_heads, o.head_dim, kMaxKvBytes >> 30);
    }
    bytes *= f;
  }
  return o;
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// PagePool

PagePool::PagePool(int64_t num_pages) {
  if (num_pages <= 0) fail("PagePool: num_pages must be positive, got {}", num_pages);
  if (num_pages > std::numeric_limits<PageId>::max()) {
    fail("PagePool: num_pages {} exceeds the PageId limit", num_pages);
  }
  refcount_.assign(size_t(num_pages), 0);
  parked_.assign(size_t(num_pages), 0);
  free_.reserve(size_t(num_pages));  // release() relies on this to never reallocate
  // A stack whose top is page 0, so pages are handed out in increasing order at first.
  for (int64_t p = num_pages - 1; p >= 0; --p) free_.push_back(PageId(p));
}

int64_t PagePool::num_pages() const { return int64_t(refcount_.size()); }
int64_t PagePool::num_free() const { return int64_t(free_.size()); }

PageId PagePool::allocate() {
  if (free_.empty()) {
    throw KvCacheFull(fmt::format("KV cache full: needs 1 page, 0 of {} free", num_pages()));
  }
  PageId p = free_.back();
  free_.pop_back();
  refcount_[size_t(p)] = 1;
  return p;
}

void PagePool::retain(PageId page) {
  if (page < 0 || page >= num_pages()) fail("PagePool::retain: page {} out of range", page);
  if (refcount_[size_t(page)] == 0) fail("PagePool::retain: page {} is free", page);
  ++refcount_[size_t(page)];
}

void PagePool::release(PageId page, bool park) {
  if (page < 0 || page >= num_pages()) fail("PagePool::release: page {} out of range", page);
  if (refcount_[size_t(page)] == 0) fail("PagePool::release: page {} is already free", page);
  if (--refcount_[size_t(page)] > 0) return;
  if (park) {
    parked_[size_t(page)] = 1;
    ++num_parked_;
  } else {
    free_.push_back(page);
  }
}

bool PagePool::parked(PageId page) const {
  if (page < 0 || page >= num_pages()) fail("PagePool::parked: page {} out of range", page);
  return parked_[size_t(page)] != 0;
}

void PagePool::revive(PageId page) {
  if (!parked(page)) fail("PagePool::revive: page {} is not parked", page);
  parked_[size_t(page)] = 0;
  --num_parked_;
  refcount_[size_t(page)] = 1;
}

void PagePool::unpark(PageId page) {
  if (!parked(page)) fail("PagePool::unpark: page {} is not parked", page);
  parked_[size_t(page)] = 0;
  --num_parked_;
  free_.push_back(page);  // capacity num_pages: never reallocates
}

int PagePool::refcount(PageId page) const {
  if (page < 0 || page >= num_pages()) fail("PagePool::refcount: page {} out of range", page);
  return refcount_[size_t(page)];
}

// -------------------------------------------------------------------------------------------------
// KvStorage

KvStorage::KvStorage(const KvCacheOptions& opts) : opts_(checked(opts)) {
  token_stride_ = size_t(opts_.num_kv_heads) * kv_head_bytes(opts_.dtype, opts_.head_dim);
  layer_stride_ = size_t(opts_.num_pages) * size_t(opts_.page_size) * token_stride_;
  const size_t n = size_t(opts_.num_layers) * layer_stride_;
  try {
    k_.assign(n, std::byte{0});
    v_.assign(n, std::byte{0});
  } catch (const std::bad_alloc&) {
    fail("KV cache: cannot allocate {} MiB for num_pages {} (reduce num_pages)", (2 * n) >> 20,
         opts_.num_pages);
  }
}

namespace {
size_t storage_offset(const KvCacheOptions& o, size_t token_stride, size_t layer_stride, int layer,
                      PageId page, int slot) {
  if (layer < 0 || layer >= o.num_layers)
    fail("KvStorage: layer {} out of range [0, {})", layer, o.num_layers);
  if (page < 0 || page >= o.num_pages)
    fail("KvStorage: page {} out of range [0, {})", page, o.num_pages);
  if (slot < 0 || slot >= o.page_size)
    fail("KvStorage: slot {} out of range [0, {})", slot, o.page_size);
  return size_t(layer) * layer_stride +
         (size_t(page) * size_t(o.page_size) + size_t(slot)) * token_stride;
}
}  // namespace

std::byte* KvStorage::key(int layer, PageId page, int slot) {
  return k_.data() + storage_offset(opts_, token_stride_, layer_stride_, layer, page, slot);
}
std::byte* KvStorage::value(int layer, PageId page, int slot) {
  return v_.data() + storage_offset(opts_, token_stride_, layer_stride_, layer, page, slot);
}
const std::byte* KvStorage::key(int layer, PageId page, int slot) const {
  return k_.data() + storage_offset(opts_, token_stride_, layer_stride_, layer, page, slot);
}
const std::byte* KvStorage::value(int layer, PageId page, int slot) const {
  return v_.data() + storage_offset(opts_, token_stride_, layer_stride_, layer, page, slot);
}

void KvStorage::copy_page(PageId dst, PageId src, int num_slots) {
  if (dst < 0 || dst >= opts_.num_pages)
    fail("KvStorage::copy_page: dst page {} out of range", dst);
  if (src < 0 || src >= opts_.num_pages)
    fail("KvStorage::copy_page: src page {} out of range", src);
  if (num_slots < 0 || num_slots > opts_.page_size) {
    fail("KvStorage::copy_page: num_slots {} out of range [0, {}]", num_slots, opts_.page_size);
  }
  if (dst == src || num_slots == 0) return;
  const size_t page_stride = size_t(opts_.page_size) * token_stride_;
  const size_t count = size_t(num_slots) * token_stride_;
  for (int l = 0; l < opts_.num_layers; ++l) {
    const size_t base = size_t(l) * layer_stride_;
    std::copy_n(k_.data() + base + size_t(src) * page_stride, count,
                k_.data() + base + size_t(dst) * page_stride);
    std::copy_n(v_.data() + base + size_t(src) * page_stride, count,
                v_.data() + base + size_t(dst) * page_stride);
  }
}

size_t KvStorage::bytes() const { return k_.size() + v_.size(); }

// -------------------------------------------------------------------------------------------------
// KvCache

KvCache::KvCache(const KvCacheOptions& opts)
    : opts_(checked(opts)),
      pool_(opts_.num_pages),
      index_(opts_.num_pages, opts_.page_size, opts_.prefix_key_mask),
      storage_(opts_) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id++;
}

// -------------------------------------------------------------------------------------------------
// The journal (tensor parallelism): each change as [op, argument count, arguments...].

namespace {
enum JournalOp : int64_t { kAdd = 1, kRemove, kFork, kPop, kReserve, kCommit, kAddFromPrefix, kCacheFull };
}

void KvCache::record(std::initializer_list<int64_t> op, std::span<const int32_t> tokens) {
  if (!opts_.journal || journal_paused_) return;
  auto it = op.begin();
  journal_.push_back(*it++);
  journal_.push_back(int64_t(op.size() - 1 + tokens.size()));
  journal_.insert(journal_.end(), it, op.end());
  journal_.insert(journal_.end(), tokens.begin(), tokens.end());
}

void KvCache::replay(std::span<const int64_t> ops) {
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < ops.size();) {
    if (ops.size() - i < 2 || ops[i + 1] < 0 || size_t(ops[i + 1]) > ops.size() - i - 2)
      fail("KV cache journal: truncated operation at offset {}", i);
    const int64_t op = ops[i];
    const auto a = ops.subspan(i + 2, size_t(ops[i + 1]));
    i += 2 + a.size();
    auto need = [&](size_t n) {
      if (a.size() < n) fail("KV cache journal: operation {} has {} arguments, needs {}", op, a.size(), n);
    };
    auto rest_tokens = [&](size_t from) {
      tokens.assign(a.begin() + ptrdiff_t(from), a.end());
      return std::span<const int32_t>(tokens);
    };
    switch (op) {
      case kAdd: need(1); add_sequence(a[0]); break;
      case kRemove: need(1); remove_sequence(a[0]); break;
      case kFork: need(2); fork(a[0], a[1]); break;
      case kPop: need(2); pop(a[0], a[1]); break;
      case kReserve: need(2); reserve(a[0], a[1]); break;
      case kCommit: need(2); commit(a[0], a[1]); break;
      case kAddFromPrefix: need(2); add_sequence_from_prefix_cache(a[0], rest_tokens(2), a[1]); break;
      case kCacheFull: {  // [seq, offset, num_tokens, ids of [offset, ...)]: the rest are not read
        need(3);
        if (a[1] < 0 || a[2] < a[1] || size_t(a[2] - a[1]) < a.size() - 3)
          fail("KV cache journal: bad range [{}, {}) for the prefix cache", a[1], a[2]);
        tokens.assign(size_t(a[2]), 0);
        std::copy(a.begin() + 3, a.end(), tokens.begin() + a[1]);
        cache_full_pages(a[0], tokens);
        break;
      }
      default: fail("KV cache journal: unknown operation {}", op);
    }
  }
}

PageId KvCache::allocate_page() {
  if (pool_.num_free() == 0 && index_.num_parked() > 0) {
    const PageId victim = index_.oldest_parked();
    index_.unpark(victim);
    index_.erase(victim);
    pool_.unpark(victim);
  }
  return pool_.allocate();
}

void KvCache::release_page(PageId page) {
  const bool park = pool_.refcount(page) == 1 && index_.contains(page);
  pool_.release(page, park);
  if (park) index_.park(page);
}

bool KvCache::next_page_immutable(const Seq& s) const {
  const size_t idx = size_t(s.num_tokens / opts_.page_size);
  return idx < s.pages.size() && (pool_.refcount(s.pages[idx]) > 1 || index_.contains(s.pages[idx]));
}

const KvCache::Seq& KvCache::get(SeqId seq) const {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) fail("KV cache: unknown sequence {}", seq);
  return it->second;
}

KvCache::Seq& KvCache::get(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) fail("KV cache: unknown sequence {}", seq);
  return it->second;
}

void KvCache::add_sequence(SeqId seq) {
  if (seqs_.contains(seq)) fail("KV cache: sequence {} already exists", seq);
  seqs_.try_emplace(seq);
  record({kAdd, seq});
}

void KvCache::remove_sequence(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) fail("KV cache: unknown sequence {}", seq);
  // Last page first: parked pages of one sequence are then evicted tail first, keeping the prefix
  // (the part other requests share) longest.
  const auto& pages = it->second.pages;
  for (auto p = pages.rbegin(); p != pages.rend(); ++p) release_page(*p);
  seqs_.erase(it);
  record({kRemove, seq});
}

void KvCache::fork(SeqId parent, SeqId child) {
  const Seq& src = get(parent);
  if (seqs_.contains(child))
    fail("KV cache: fork of {} into {}: sequence {} already exists", parent, child, child);
  const int64_t ps = opts_.page_size;
  const int64_t full = src.num_tokens / ps;
  const int partial = int(src.num_tokens % ps);  // filled slots of the last page; 0 if none
  if (partial > 0 && num_free_pages() < 1) {
    throw KvCacheFull(
        fmt::format("KV cache full: fork of sequence {} into {} needs 1 page, 0 of {} free", parent,
                    child, pool_.num_pages()));
  }
  const PageId last = partial > 0 ? src.pages[size_t(full)] : -1;
  // Everything that can allocate memory, before the pool is touched.
  Seq copy;
  copy.num_tokens = src.num_tokens;
  copy.pages.reserve(size_t(full + (partial > 0 ? 1 : 0)));
  copy.pages.assign(src.pages.begin(), src.pages.begin() + full);
  copy.chain.assign(src.chain.begin(), src.chain.begin() + std::min<ptrdiff_t>(ptrdiff_t(src.chain.size()), full));
  Seq& dst = seqs_.try_emplace(child, std::move(copy)).first->second;
  // Nothrow from here: the free page was checked, the page ids are valid and in use.
  for (PageId p : dst.pages) pool_.retain(p);
  if (partial > 0) {
    const PageId page = allocate_page();
    storage_.copy_page(page, last, partial);
    dst.pages.push_back(page);
  }
  record({kFork, parent, child});
}

void KvCache::pop(SeqId seq, int64_t n) {
  Seq& s = get(seq);
  if (n < 0) fail("KV cache: pop of {} tokens from sequence {}: n must be >= 0", n, seq);
  if (n > s.num_tokens) {
    fail("KV cache: pop of {} tokens from sequence {} which has only {}", n, seq, s.num_tokens);
  }
  s.num_tokens -= n;
  const size_t keep = size_t(ceil_div(s.num_tokens, opts_.page_size));
  for (size_t i = s.pages.size(); i-- > keep;) release_page(s.pages[i]);
  s.pages.resize(keep);
  s.chain.resize(std::min(s.chain.size(), size_t(s.num_tokens / opts_.page_size)));
  record({kPop, seq, n});
}

int64_t KvCache::pages_needed(SeqId seq, int64_t n) const {
  const Seq& s = get(seq);
  if (n < 0) fail("KV cache: reserve of {} tokens for sequence {}: n must be >= 0", n, seq);
  if (n == 0) return 0;  // nothing will be written, so no copy-on-write either
  const int64_t room = capacity(seq) - s.num_tokens;
  const int64_t grow = n > room ? ceil_div(n - room, opts_.page_size) : 0;
  const int64_t cow = next_page_immutable(s) ? 1 : 0;
  return grow + cow;
}

void KvCache::reserve(SeqId seq, int64_t n) {
  const int64_t needed = pages_needed(seq, n);  // validates seq and n
  if (needed == 0) return;
  if (needed > num_free_pages()) {
    throw KvCacheFull(fmt::format(
        "KV cache full: reserve of {} tokens for sequence {} needs {} page{}, {} of {} free", n,
        seq, needed, needed == 1 ? "" : "s", num_free_pages(), pool_.num_pages()));
  }
  Seq& s = get(seq);
  const bool cow = next_page_immutable(s);
  const int64_t grow = needed - (cow ? 1 : 0);
  s.pages.reserve(s.pages.size() + size_t(grow));  // the only step that can throw (bad_alloc)
  if (cow) {
    const size_t idx = size_t(s.num_tokens / opts_.page_size);
    const PageId shared = s.pages[idx];
    const PageId page = allocate_page();
    storage_.copy_page(page, shared, int(s.num_tokens % opts_.page_size));
    release_page(shared);  // stays in use by the other sequences, or parked in the prefix cache
    s.pages[idx] = page;
  }
  for (int64_t i = 0; i < grow; ++i) s.pages.push_back(allocate_page());
  record({kReserve, seq, n});
}

void KvCache::commit(SeqId seq, int64_t n) {
  Seq& s = get(seq);
  if (n < 0) fail("KV cache: commit of {} tokens to sequence {}: n must be >= 0", n, seq);
  const int64_t cap = int64_t(s.pages.size()) * opts_.page_size;
  if (n > cap - s.num_tokens) {
    fail(
        "KV cache: commit of {} tokens to sequence {} with {} tokens exceeds its capacity {} "
        "(call reserve first)",
        n, seq, s.num_tokens, cap);
  }
  // Catch a write into a shared page that skipped reserve(): it has already corrupted the other
  // sequences' data, but failing here beats a silent wrong answer.
  if (n > 0 && next_page_immutable(s)) {
    fail(
        "KV cache: commit to sequence {} at position {}: page {} is shared or cached (call reserve "
        "before writing)",
        seq, s.num_tokens, s.pages[size_t(s.num_tokens / opts_.page_size)]);
  }
  s.num_tokens += n;
  record({kCommit, seq, n});
}

int64_t KvCache::add_sequence_from_prefix_cache(SeqId seq, std::span<const int32_t> tokens, int64_t max_tokens) {
  if (seqs_.contains(seq)) fail("KV cache: sequence {} already exists", seq);
  const size_t ps = size_t(opts_.page_size);
  const size_t limit = size_t(std::clamp<int64_t>(max_tokens, 0, int64_t(tokens.size())));
  // Everything that can allocate memory, before any refcount changes.
  Seq s;
  PrefixIndex::Link link = index_.root();
  for (size_t i = 0; (i + 1) * ps <= limit; ++i) {
    const PageId p = index_.find(link, tokens.subspan(i * ps, ps), &link);
    if (p < 0) break;
    s.pages.push_back(p);
    s.chain.push_back(link);
  }
  s.num_tokens = int64_t(s.pages.size() * ps);
  const auto& pages = seqs_.try_emplace(seq, std::move(s)).first->second.pages;
  // Nothrow from here.
  for (PageId p : pages) {
    if (pool_.parked(p)) {
      index_.unpark(p);
      pool_.revive(p);
    } else {
      pool_.retain(p);
    }
  }
  record({kAddFromPrefix, seq, int64_t(limit)}, tokens.first(limit));
  return int64_t(pages.size() * ps);
}

void KvCache::cache_full_pages(SeqId seq, std::span<const int32_t> tokens) {
  Seq& s = get(seq);
  if (int64_t(tokens.size()) < s.num_tokens)
    fail("KV cache: sequence {} holds {} tokens but only {} ids were given to cache", seq, s.num_tokens,
         tokens.size());
  const size_t ps = size_t(opts_.page_size);
  const size_t full = size_t(s.num_tokens) / ps;
  if (s.chain.size() >= full) return;
  const size_t first_new = s.chain.size();
  s.chain.reserve(full);  // the only step that can throw (bad_alloc)
  for (size_t i = s.chain.size(); i < full; ++i) {
    const PageId p = s.pages[i];
    const PrefixIndex::Link parent = i == 0 ? index_.root() : s.chain[i - 1];
    const auto page_tokens = tokens.subspan(i * ps, ps);
    PrefixIndex::Link link;
    if (index_.contains(p)) {
      link = index_.link(p);  // shared with a sequence that cached it first (fork)
    } else if (index_.find(parent, page_tokens, &link) < 0) {
      link = index_.insert(p, parent, page_tokens);
    }  // else another page holds the same tokens after the same prefix: this one stays uncached
    s.chain.push_back(link);
  }
  // Only the ids of the pages just offered are read (the mirror's chain is as long as ours): send
  // those, not the whole sequence, which would make a long generation's messages grow every page.
  const size_t from = first_new * ps;
  record({kCacheFull, seq, int64_t(from), s.num_tokens}, tokens.subspan(from, full * ps - from));
}

bool KvCache::contains(SeqId seq) const { return seqs_.contains(seq); }
int64_t KvCache::num_tokens(SeqId seq) const { return get(seq).num_tokens; }
int64_t KvCache::capacity(SeqId seq) const {
  return int64_t(get(seq).pages.size()) * opts_.page_size;
}
std::span<const PageId> KvCache::block_table(SeqId seq) const { return get(seq).pages; }

std::vector<SeqId> KvCache::sequences() const {
  std::vector<SeqId> ids;
  ids.reserve(seqs_.size());
  for (const auto& [id, s] : seqs_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

namespace {
void check_pos(const KvCacheOptions& o, int layer, SeqId seq, int64_t pos, int64_t cap) {
  if (layer < 0 || layer >= o.num_layers)
    fail("KV cache: layer {} out of range [0, {})", layer, o.num_layers);
  if (pos < 0 || pos >= cap)
    fail("KV cache: position {} of sequence {} out of capacity {}", pos, seq, cap);
}
}  // namespace

std::byte* KvCache::key(int layer, SeqId seq, int64_t pos) {
  const Seq& s = get(seq);
  check_pos(opts_, layer, seq, pos, int64_t(s.pages.size()) * opts_.page_size);
  return storage_.key(layer, s.pages[size_t(pos / opts_.page_size)], int(pos % opts_.page_size));
}

std::byte* KvCache::value(int layer, SeqId seq, int64_t pos) {
  const Seq& s = get(seq);
  check_pos(opts_, layer, seq, pos, int64_t(s.pages.size()) * opts_.page_size);
  return storage_.value(layer, s.pages[size_t(pos / opts_.page_size)], int(pos % opts_.page_size));
}

void KvCache::check_invariants() const {
  const int64_t np = pool_.num_pages();
  std::vector<int> uses(size_t(np), 0);
  for (SeqId id : sequences()) {
    const Seq& s = seqs_.at(id);
    const int64_t cap = int64_t(s.pages.size()) * opts_.page_size;
    if (s.num_tokens < 0 || s.num_tokens > cap) {
      fail("KV cache invariant: sequence {} has {} tokens but capacity {}", id, s.num_tokens, cap);
    }
    for (size_t i = 0; i < s.pages.size(); ++i) {
      const PageId p = s.pages[i];
      if (p < 0 || p >= np)
        fail("KV cache invariant: sequence {} holds page {} out of range", id, p);
      if (std::find(s.pages.begin(), s.pages.begin() + i, p) != s.pages.begin() + i) {
        fail("KV cache invariant: sequence {} holds page {} twice", id, p);
      }
      ++uses[size_t(p)];
      // Pages wholly past num_tokens come from reserve() and are private; this is what lets
      // reserve() copy-on-write only the page holding position num_tokens.
      if (int64_t(i) * opts_.page_size >= s.num_tokens && (pool_.refcount(p) != 1 || index_.contains(p))) {
        fail(
            "KV cache invariant: sequence {} page {} (index {}) lies past its {} tokens but has "
            "refcount {}{}",
            id, p, i, s.num_tokens, pool_.refcount(p), index_.contains(p) ? " and is cached" : "");
      }
    }
    if (int64_t(s.chain.size()) > s.num_tokens / opts_.page_size)
      fail("KV cache invariant: sequence {} has {} prefix-cache links but only {} full pages", id, s.chain.size(),
           s.num_tokens / opts_.page_size);
  }
  index_.check_invariants();
  if (pool_.num_parked() != index_.num_parked())
    fail("KV cache invariant: the pool has {} parked pages, the prefix cache {}", pool_.num_parked(),
         index_.num_parked());
  for (PageId p = 0; p < np; ++p) {
    if (pool_.parked(p) != index_.parked(p))
      fail("KV cache invariant: page {} is parked in the pool but not in the prefix cache, or the reverse", p);
    if (pool_.parked(p) && pool_.refcount(p) != 0)
      fail("KV cache invariant: parked page {} has refcount {}", p, pool_.refcount(p));
  }
  int64_t zero = 0;
  for (PageId p = 0; p < np; ++p) {
    if (pool_.refcount(p) != uses[size_t(p)]) {
      fail("KV cache invariant: page {} has refcount {} but is in {} block tables", p,
           pool_.refcount(p), uses[size_t(p)]);
    }
    zero += uses[size_t(p)] == 0 && !pool_.parked(p) ? 1 : 0;
  }
  std::vector<bool> seen(size_t(np), false);
  for (PageId p : pool_.free_pages()) {
    if (p < 0 || p >= np) fail("KV cache invariant: free list holds page {} out of range", p);
    if (seen[size_t(p)]) fail("KV cache invariant: free list holds page {} twice", p);
    seen[size_t(p)] = true;
    if (pool_.refcount(p) != 0) {
      fail("KV cache invariant: free list holds page {} with refcount {}", p, pool_.refcount(p));
    }
    if (pool_.parked(p) || index_.contains(p)) fail("KV cache invariant: free page {} is parked or cached", p);
  }
  if (int64_t(pool_.free_pages().size()) != zero) {
    fail("KV cache invariant: free list has {} pages but {} unparked pages have refcount 0",
         pool_.free_pages().size(), zero);
  }
}

}  // namespace qwen3
