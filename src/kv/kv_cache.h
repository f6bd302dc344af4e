// Paged KV cache: page bookkeeping (PagePool + per-sequence block tables) kept apart from KV memory
// (KvStorage). Pages hold `page_size` consecutive token positions of one sequence for every layer.
//
// Invariants (checked by check_invariants()):
//  - a page's refcount equals the number of block tables that contain it; free pages have refcount 0
//    and are in the free list exactly once;
//  - a sequence with n tokens and capacity c has ceil(c / page_size) pages, n <= c;
//  - a page that holds none of its sequence's tokens (reserved, index * page_size >= n) is private;
//  - a page shared by several sequences (refcount > 1) is never written: before a sequence writes into
//    a shared page (possible after fork + pop), reserve() gives it a private copy (copy-on-write);
//  - prefix cache: a cached page is full (page_size tokens, recorded in the PrefixIndex) and is never
//    written again: reserve() copies it like a shared page. A page with refcount 0 is either in the
//    free list (not cached) or parked in the index's LRU list (cached, evictable), never both;
//    num_free_pages() counts both kinds, and allocation evicts the least recently parked page when
//    the free list is empty. A cached page in a block table holds some of its sequence's tokens.
//
// Every operation either succeeds or throws (qwen3::Error for misuse such as an unknown sequence,
// qwen3::KvCacheFull when pages run out) and leaves the state unchanged when it throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <initializer_list>
#include <vector>

#include "core/dtype.h"
#include "core/kv_dtype.h"
#include "core/error.h"
#include "kv/prefix_index.h"

namespace qwen3 {

using SeqId = int64_t;

struct KvCacheOptions {
  int num_layers = 0;
  int num_kv_heads = 0;  // on this rank
  int head_dim = 0;
  int page_size = 16;    // tokens per page
  int64_t num_pages = 0;
  KvDType dtype = KvDType::F32;  // type of stored K and V (rounded or quantized on write: kernels::store_kv)
  uint64_t prefix_key_mask = ~uint64_t{0};  // tests only: fewer hash bits force prefix-cache collisions
  // Tensor parallelism: rank 0's cache records its changes for the other ranks (KvCache::take_journal).
  bool journal = false;
};

// Bookkeeping only: which pages are free, and how many block tables hold each page. A page whose
// refcount drops to 0 can be parked instead of freed (the prefix cache keeps it): it is then in
// neither the free list nor any block table until revive() or unpark().
class PagePool {
 public:
  explicit PagePool(int64_t num_pages);
  int64_t num_pages() const;
  int64_t num_free() const;     // the free list only, not parked pages
  int64_t num_parked() const { return num_parked_; }
  PageId allocate();            // refcount 1; throws KvCacheFull when none is free
  void retain(PageId page);     // refcount + 1 (page must be in use)
  // refcount - 1; at 0 back to the free list, or parked when `park`.
  void release(PageId page, bool park = false);
  void revive(PageId page);     // a parked page: refcount 0 -> 1
  void unpark(PageId page);     // a parked page: to the free list
  int refcount(PageId page) const;
  bool parked(PageId page) const;
  std::span<const PageId> free_pages() const { return free_; }  // for check_invariants and tests

 private:
  std::vector<int> refcount_;
  std::vector<uint8_t> parked_;
  std::vector<PageId> free_;
  int64_t num_parked_ = 0;
};

// KV memory: K and V in opts.dtype, per layer [num_pages, page_size, num_kv_heads] of
// kv_head_bytes(dtype, head_dim) each (core/kv_dtype.h). key() / value() point at the
// token_bytes() bytes of one token; the kernels write them (kernels::store_kv) and read them.
class KvStorage {
 public:
  explicit KvStorage(const KvCacheOptions& opts);
  std::byte* key(int layer, PageId page, int slot);    // -> [num_kv_heads * head_dim] of dtype()
  std::byte* value(int layer, PageId page, int slot);
  const std::byte* key(int layer, PageId page, int slot) const;
  const std::byte* value(int layer, PageId page, int slot) const;
  void copy_page(PageId dst, PageId src, int num_slots);  // all layers, K and V, slots [0, num_slots)
  KvDType dtype() const { return opts_.dtype; }
  size_t token_bytes() const { return token_stride_; }  // of K (V the same) for one token, all heads
  size_t bytes() const;

 private:
  KvCacheOptions opts_;
  size_t token_stride_ = 0;   // bytes: num_kv_heads * kv_head_bytes(dtype, head_dim)
  size_t layer_stride_ = 0;   // bytes: num_pages * page_size * token_stride_
  std::vector<std::byte> k_, v_;  // [num_layers, num_pages, page_size, num_kv_heads, head_dim]
};

class KvCache {
 public:
  explicit KvCache(const KvCacheOptions& opts);
  const KvCacheOptions& options() const { return opts_; }

  void add_sequence(SeqId seq);                 // error if it exists
  void remove_sequence(SeqId seq);              // releases its pages
  void fork(SeqId parent, SeqId child);         // child shares the parent's full pages; the partial
                                                // last page is copied into a new page
  // (so fork needs 1 free page iff num_tokens % page_size != 0; the child does not inherit the
  // parent's reservations: its capacity is ceil(num_tokens / page_size) * page_size.)
  // Forget the last n tokens (0 <= n <= num_tokens) and trim the block table to
  // ceil(num_tokens / page_size) pages: reserved-but-unwritten pages are released too, so
  // afterwards capacity(seq) == ceil(num_tokens / page_size) * page_size. pop(seq, 0) only drops
  // reservations.
  // Never allocates, never throws KvCacheFull.
  void pop(SeqId seq, int64_t n);
  // Make room for n more tokens after num_tokens(seq): allocates pages, and copies a shared partial
  // last page (copy-on-write). Throws KvCacheFull with nothing changed when the pool is short.
  // Call it before every write, even when capacity(seq) - num_tokens(seq) >= n: after fork + pop
  // the page holding position num_tokens can be shared, and only reserve() makes it private. It is
  // a cheap no-op when there is room and nothing is shared. reserve(seq, 0) does nothing.
  void reserve(SeqId seq, int64_t n);
  // Pages that reserve(seq, n) would take from the pool (for schedulers and batch-wide checks).
  int64_t pages_needed(SeqId seq, int64_t n) const;
  // After writing K/V of positions [num_tokens, num_tokens + n) (within capacity), count them in.
  // Error if that exceeds capacity, or if the written page is shared (reserve() was skipped).
  void commit(SeqId seq, int64_t n);

  // --- Prefix cache (policy in the scheduler; it is inert until cache_full_pages() is called) ---
  // Adds `seq` (error if it exists) holding the longest cached prefix of `tokens` in whole pages,
  // at most max_tokens tokens (a caller that needs the logits of the last token passes
  // tokens.size() - 1). The pages are shared like fork() shares them. Returns num_tokens(seq): 0 on
  // a miss. Takes no page from the pool (a parked page is revived), never throws KvCacheFull.
  int64_t add_sequence_from_prefix_cache(SeqId seq, std::span<const int32_t> tokens, int64_t max_tokens);
  // Offers the full pages of `seq` to the prefix cache; tokens[0, num_tokens(seq)) are the ids whose
  // K/V seq holds (tokens may run further). Pages already cached, or whose content is cached in
  // another page, are skipped; only pages not yet offered are hashed, so calling it after every
  // step costs O(new full pages). A cached page stays cached after its sequences let go of it,
  // parked, until allocation evicts it.
  void cache_full_pages(SeqId seq, std::span<const int32_t> tokens);
  int64_t num_cached_pages() const { return index_.size(); }        // in use or parked
  int64_t num_evictable_pages() const { return index_.num_parked(); }  // cached, held by no sequence
  const PrefixIndex& prefix_index() const { return index_; }

  bool contains(SeqId seq) const;
  int64_t num_tokens(SeqId seq) const;
  int64_t capacity(SeqId seq) const;            // pages * page_size
  std::span<const PageId> block_table(SeqId seq) const;  // valid until the next non-const call
  std::vector<SeqId> sequences() const;

  // Where token `pos` of `seq` lives: -> its storage().token_bytes() bytes (core/kv_dtype.h).
  // 0 <= pos < capacity(seq), else
  // qwen3::Error. One hash lookup per call: inner attention loops should take block_table(seq) once
  // and address storage() with (page = table[pos / page_size], slot = pos % page_size).
  std::byte* key(int layer, SeqId seq, int64_t pos);
  std::byte* value(int layer, SeqId seq, int64_t pos);

  KvStorage& storage() { return storage_; }
  const KvStorage& storage() const { return storage_; }
  const PagePool& pool() const { return pool_; }
  // Pages an allocation can take: the free list and the evictable cached pages.
  int64_t num_free_pages() const { return pool_.num_free() + index_.num_parked(); }
  void check_invariants() const;                // throws qwen3::Error naming the broken invariant

  // --- Tensor parallelism (model/tp_mirror.h) ---
  // A cache made with options().journal records every successful change (add_sequence,
  // remove_sequence, fork, pop, reserve, commit and the prefix cache's two calls) with its
  // arguments. Rank 0 sends them to the other ranks, whose caches replay() them in the same order
  // and so stay identical to it page for page (every operation is deterministic).
  std::vector<int64_t> take_journal() { return std::exchange(journal_, {}); }
  // While paused nothing is recorded: the forward pass makes its own reserve / commit calls on every rank.
  void pause_journal(bool paused) { journal_paused_ = paused; }
  // Applies recorded changes; throws qwen3::Error (and stops) at the first that is malformed or fails.
  void replay(std::span<const int64_t> ops);
  uint64_t id() const { return id_; }  // unique within the process

 private:
  struct Seq {
    int64_t num_tokens = 0;
    std::vector<PageId> pages;
    // The prefix-cache links of pages [0, chain.size()), all full: each page is cached, or holds
    // the same tokens after the same prefix as the cached page named by its link.
    std::vector<PrefixIndex::Link> chain;
  };
  const Seq& get(SeqId seq) const;
  Seq& get(SeqId seq);
  PageId allocate_page();        // the free list, else evicts the least recently parked page
  void release_page(PageId page);  // parks a cached page at refcount 0, frees any other
  // The page the next write into `s` lands in, if s has it and it is shared or cached (so it must
  // be copied first).
  bool next_page_immutable(const Seq& s) const;

  KvCacheOptions opts_;
  PagePool pool_;
  PrefixIndex index_;
  KvStorage storage_;
  std::unordered_map<SeqId, Seq> seqs_;
  uint64_t id_ = 0;
  std::vector<int64_t> journal_;
  bool journal_paused_ = false;
  void record(std::initializer_list<int64_t> op, std::span<const int32_t> tokens = {});
};

}  // namespace qwen3
