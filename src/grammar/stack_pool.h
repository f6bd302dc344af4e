// The matcher's memory: stacks of automaton states, interned as nodes of a tree (a stack is its top
// node; equal stacks are one node), sets of stacks interned as ids, and a memo of
// step(set, byte) -> set. With the memo, following text through a grammar is mostly one hash
// lookup per byte, and a matcher's state is one 32-bit set id (cheap to copy and roll back).
//
// A set holds only "leaf" stacks, whose top state reads a byte, plus three markers:
//   kEnd       the whole text may end here (the root rule has completed);
//   kEscape    a stack built on kContext (the unknown caller used when token masks are
//              precomputed per state) has returned to that caller;
//   kOuterEnd  a speculative stack (below) has completed the root rule.
// When a stack over kContext (or kOuter) returns from rule R, the pool also goes on, speculatively,
// in every caller R may have: one-frame stacks (ret, kOuter) for each call site of R. A token that
// survives only on those may be allowed, depending on the real stack; one that dies on all of them
// is refused in every context (XGrammar's context expansion, in its simplest form).
// Not thread-safe: a Matcher and its copies share one pool.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"

namespace qwen3::grammar {

// uint64 -> uint32 hash map with linear probing: the memo lookup is the inner loop of every mask.
class FlatMap64 {
 public:
  static constexpr uint32_t kMissing = UINT32_MAX;
  uint32_t find(uint64_t key) const {
    if (keys_.empty()) return kMissing;
    for (size_t i = slot(key);; i = (i + 1) & (keys_.size() - 1)) {
      if (keys_[i] == key) return values_[i];
      if (keys_[i] == kEmpty) return kMissing;
    }
  }
  void insert(uint64_t key, uint32_t value) {  // key must be absent
    if ((size_ + 1) * 2 > keys_.size()) grow();
    size_t i = slot(key);
    while (keys_[i] != kEmpty) i = (i + 1) & (keys_.size() - 1);
    keys_[i] = key;
    values_[i] = value;
    ++size_;
  }
  size_t size() const { return size_; }
  size_t memory_bytes() const { return keys_.size() * 12; }

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & (keys_.size() - 1); }
  void grow() {
    std::vector<uint64_t> keys = std::move(keys_);
    std::vector<uint32_t> values = std::move(values_);
    keys_.assign(std::max<size_t>(64, keys.size() * 2), kEmpty);
    values_.assign(keys_.size(), 0);
    size_ = 0;
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] != kEmpty) insert(keys[i], values[i]);
  }
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> values_;
  size_t size_ = 0;
};

class StackPool {
 public:
  static constexpr uint32_t kEnd = 0xFFFFFFFF;      // member: the text may end; as a parent: the bottom
  static constexpr uint32_t kEscape = 0xFFFFFFFE;   // member: returned to kContext
  static constexpr uint32_t kBottom = kEnd;         // parent of the root frame
  static constexpr uint32_t kContext = kEscape;     // parent of a frame whose caller is unknown
  static constexpr uint32_t kOuterEnd = 0xFFFFFFFD; // member: a speculative stack may end the text
  static constexpr uint32_t kOuter = kOuterEnd;     // parent of a speculative caller frame
  static constexpr uint32_t kDeadSet = 0;           // the empty set
  static constexpr uint32_t kTerminatedSet = 1;     // after an end token: nothing more

  explicit StackPool(const CompiledGrammar& g);

  // The set of leaf stacks reachable without reading a byte from the one-frame stack
  // (state, parent), parent being kBottom or kContext.
  uint32_t start_set(uint32_t state, uint32_t parent);
  // The set holding exactly the leaf stack `node` (whose top reads a byte).
  uint32_t singleton(uint32_t node);
  // The set holding exactly the one-frame stack (state, parent), without its closure.
  uint32_t leaf_set(uint32_t state, uint32_t parent) { return singleton(node(state, parent)); }
  // Holds a stack that is not speculative (or kEnd / kEscape): alive whatever the context.
  bool has_sure(uint32_t set) const { return set_sure_[set] != 0; }
  // The stacks after reading `byte` from every stack of `set`, with their closures.
  uint32_t step(uint32_t set, uint8_t byte) {
    uint64_t key = (static_cast<uint64_t>(set) << 8) | byte;
    uint32_t r = memo_.find(key);
    if (r != FlatMap64::kMissing) return r;
    r = step_slow(set, byte);
    memo_.insert(key, r);
    return r;
  }

  std::span<const uint32_t> members(uint32_t set) const {
    auto [b, e] = sets_[set];
    return {set_data_.data() + b, set_data_.data() + e};
  }
  bool contains(uint32_t set, uint32_t member) const;
  uint32_t set_max_depth(uint32_t set) const { return set_depth_[set]; }
  uint32_t node_state(uint32_t node) const { return nodes_[node].state; }
  uint32_t node_depth(uint32_t node) const { return nodes_[node].depth; }
  size_t num_nodes() const { return nodes_.size(); }
  size_t num_sets() const { return sets_.size(); }
  size_t memory_bytes() const;

 private:
  struct Node { uint32_t state, parent, depth; bool speculative; };
  uint32_t step_slow(uint32_t set, uint8_t byte);
  uint32_t node(uint32_t state, uint32_t parent);  // UINT32_MAX past max_stack_depth
  void closure(uint32_t n, std::vector<uint32_t>& out);
  void expand_callers(uint32_t rule, std::vector<uint32_t>& out);
  uint32_t intern_set(std::vector<uint32_t>& members);

  const CompiledGrammar& g_;
  std::vector<Node> nodes_;
  FlatMap64 node_index_;                                  // (state << 32 | parent) -> node
  std::vector<std::pair<uint32_t, uint32_t>> sets_;  // [begin, end) into set_data_
  std::vector<uint32_t> set_data_, set_depth_;
  std::vector<uint8_t> set_sure_;
  std::vector<std::vector<uint32_t>> callers_;  // [rule] -> the return states of its call sites
  std::unordered_multimap<uint64_t, uint32_t> set_index_;  // hash of members -> set ids
  FlatMap64 memo_;                                        // (set << 8 | byte) -> set
  std::vector<uint32_t> visited_, scratch_;
};

}  // namespace qwen3::grammar
