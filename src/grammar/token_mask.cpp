#include "grammar/token_mask.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "grammar/stack_pool.h"
#include "grammar/state_classes.h"

namespace qwen3::grammar {

TokenVocabulary::TokenVocabulary(std::vector<std::string> token_bytes, std::span<const int32_t> special_ids,
                                 std::span<const int32_t> end_ids)
    : bytes_(std::move(token_bytes)), special_(bytes_.size(), false), end_ids_(end_ids.begin(), end_ids.end()) {
  auto check = [&](int32_t id, const char* what) {
    if (id < 0 || static_cast<size_t>(id) >= bytes_.size())
      fail("grammar: {} id {} is outside the vocabulary of {} tokens", what, id, bytes_.size());
  };
  for (int32_t id : special_ids) { check(id, "special"); special_[static_cast<size_t>(id)] = true; }
  for (int32_t id : end_ids) { check(id, "end"); special_[static_cast<size_t>(id)] = true; }
  std::sort(end_ids_.begin(), end_ids_.end());
  for (size_t id = 0; id < bytes_.size(); ++id) {
    if (bytes_[id].size() > UINT16_MAX) fail("grammar: token {} is longer than {} bytes", id, UINT16_MAX);
    if (!special_[id] && !bytes_[id].empty()) {
      sorted_.push_back(static_cast<int32_t>(id));
      max_token_bytes_ = std::max(max_token_bytes_, bytes_[id].size());
    }
  }
  std::sort(sorted_.begin(), sorted_.end(), [&](int32_t a, int32_t b) { return bytes_[a] < bytes_[b]; });
  sorted_offset_.push_back(0);
  for (int32_t id : sorted_) {
    sorted_text_ += bytes_[static_cast<size_t>(id)];
    sorted_offset_.push_back(sorted_text_.size());
  }
  lcp_.assign(sorted_.size(), 0);
  for (size_t i = 1; i < sorted_.size(); ++i) {
    const std::string &a = bytes_[sorted_[i - 1]], &b = bytes_[sorted_[i]];
    size_t k = 0;
    while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
    lcp_[i] = static_cast<uint16_t>(k);
  }
}

bool TokenVocabulary::is_end(int32_t id) const { return std::binary_search(end_ids_.begin(), end_ids_.end(), id); }

namespace {

// Walks the tokens at `positions` (ascending in vocab.sorted()) from `start`, sharing the steps of
// common prefixes; calls visit(position, the set after the token or kDeadSet).
template <typename Visit>
void walk(StackPool& pool, const TokenVocabulary& v, uint32_t start, std::span<const uint32_t> positions, Visit&& visit) {
  static thread_local std::vector<uint32_t> sets;
  sets.assign(1, start);
  std::string_view prev;
  uint32_t prev_pos = UINT32_MAX;
  size_t valid = 0;  // sets[0..valid] follow prev's bytes; only sets[valid] may be dead
  for (uint32_t pos : positions) {
    std::string_view tok = v.sorted_bytes(pos);
    size_t common;
    if (pos == prev_pos + 1) {
      common = v.lcp()[pos];
    } else {
      common = 0;
      while (common < prev.size() && common < tok.size() && prev[common] == tok[common]) ++common;
    }
    size_t d = std::min(common, valid);
    prev = tok;
    prev_pos = pos;
    if (sets[d] == StackPool::kDeadSet) {
      visit(pos, StackPool::kDeadSet);
      continue;
    }
    if (sets.size() < tok.size() + 1) sets.resize(tok.size() + 1);
    while (d < tok.size()) {
      uint32_t next = pool.step(sets[d], static_cast<uint8_t>(tok[d]));
      sets[++d] = next;
      if (next == StackPool::kDeadSet) break;
    }
    valid = d;
    visit(pos, sets[d]);
  }
}

}  // namespace

TokenMasker::TokenMasker(std::shared_ptr<const CompiledGrammar> grammar, std::shared_ptr<const TokenVocabulary> vocab,
                         MaskCacheOptions options)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), options_(options),
      local_(std::make_unique<StackPool>(*grammar_)) {
  StateClasses classes = state_classes(*grammar_, static_cast<uint32_t>(vocab_->max_token_bytes()));
  class_of_ = std::move(classes.of);
  class_rep_ = std::move(classes.rep);
  entries_.resize(class_rep_.size());
  stats_.states = grammar_->num_states();
  stats_.classes = class_rep_.size();
  all_positions_.resize(vocab_->sorted().size());
  std::iota(all_positions_.begin(), all_positions_.end(), 0u);
}

TokenMasker::~TokenMasker() = default;

// With the caller unknown (kContext), a token is accepted when a sure stack survives all its bytes
// (including one that returned to the caller right at its end: every caller can continue, since
// compile_grammar trims states that cannot finish); dependent when only speculative stacks (in
// some possible caller) survive; rejected when nothing does, since the speculative stacks cover
// every context the state can be in.
void TokenMasker::compute(Entry& e) {
  if (local_->memory_bytes() > options_.max_bytes) local_ = std::make_unique<StackPool>(*grammar_);
  e.accepted.assign(vocab_->mask_words(), 0);
  e.dependent.clear();
  e.max_depth = 1;
  uint32_t start = local_->leaf_set(e.state, StackPool::kContext);
  const auto& sorted = vocab_->sorted();
  walk(*local_, *vocab_, start, all_positions_, [&](uint32_t pos, uint32_t set) {
    if (set == StackPool::kDeadSet) return;
    if (local_->has_sure(set)) {
      auto id = static_cast<uint32_t>(sorted[pos]);
      e.accepted[id >> 5] |= 1u << (id & 31);
      e.max_depth = std::max(e.max_depth, local_->set_max_depth(set));
    } else {
      e.dependent.push_back(pos);
    }
  });
}

TokenMasker::Entry& TokenMasker::entry(uint32_t state) {
  const uint32_t c = class_of_[state];
  if (auto& p = entries_[c]) {
    ++stats_.hits;
    lru_.splice(lru_.begin(), lru_, p->lru);
    return *p;
  }
  ++stats_.misses;
  auto e = std::make_unique<Entry>();
  e->state = class_rep_[c];
  compute(*e);
  lru_.push_front(c);
  e->lru = lru_.begin();
  stats_.cache_bytes += e->bytes();
  ++stats_.entries;
  entries_[c] = std::move(e);
  while (stats_.cache_bytes > options_.max_bytes && lru_.size() > 1) {
    uint32_t victim = lru_.back();
    lru_.pop_back();
    stats_.cache_bytes -= entries_[victim]->bytes();
    entries_[victim].reset();
    --stats_.entries;
    ++stats_.evictions;
  }
  return *entries_[c];
}

void TokenMasker::add_checked(StackPool& pool, uint32_t node, std::span<const uint32_t> positions, uint32_t* bits) {
  const auto& sorted = vocab_->sorted();
  stats_.context_checks += positions.size();
  walk(pool, *vocab_, pool.singleton(node), positions, [&](uint32_t pos, uint32_t set) {
    if (set == StackPool::kDeadSet) return;
    auto id = static_cast<uint32_t>(sorted[pos]);
    bits[id >> 5] |= 1u << (id & 31);
  });
}

void TokenMasker::fill_mask(const Matcher& m, uint32_t* bits) {
  const size_t words = vocab_->mask_words();
  std::fill(bits, bits + words, 0u);
  StackPool& pool = m.pool();
  auto span = pool.members(m.current_set());
  std::vector<uint32_t> members(span.begin(), span.end());  // step() below may grow the pool
  std::vector<uint32_t> done_states;  // classes whose accepted bits are in
  const uint32_t depth_limit = static_cast<uint32_t>(grammar_->limits.max_stack_depth);
  for (uint32_t n : members) {
    if (n == StackPool::kEnd) {
      for (int32_t id : vocab_->end_ids()) bits[id >> 5] |= 1u << (id & 31);
      continue;
    }
    if (n >= StackPool::kOuter) continue;
    uint32_t state = pool.node_state(n);
    Entry& e = entry(state);
    if (pool.node_depth(n) - 1 + e.max_depth > depth_limit) {  // near the limit: check every token
      add_checked(pool, n, all_positions_, bits);
      continue;
    }
    if (std::find(done_states.begin(), done_states.end(), class_of_[state]) == done_states.end()) {
      done_states.push_back(class_of_[state]);
      const uint32_t* a = e.accepted.data();
      for (size_t w = 0; w < words; ++w) bits[w] |= a[w];
    }
    add_checked(pool, n, e.dependent, bits);  // e stays valid until the next entry()
  }
}

void TokenMasker::precompute_all(std::chrono::milliseconds budget) {
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t s = 0; s < grammar_->num_states(); ++s) {
    if (!grammar_->has_bytes(s) || entries_[class_of_[s]]) continue;
    if (budget != std::chrono::milliseconds::max() && std::chrono::steady_clock::now() - start > budget) return;
    entry(s);
  }
}

}  // namespace qwen3::grammar
