#include "grammar/stack_pool.h"

#include <algorithm>

namespace qwen3::grammar {

StackPool::StackPool(const CompiledGrammar& g) : g_(g) {
  sets_ = {{0, 0}, {0, 0}};  // kDeadSet, kTerminatedSet
  set_depth_ = {0, 0};
  set_sure_ = {0, 0};
  callers_.resize(g.rule_start.size());
  for (const auto& st : g.states)
    for (uint32_t c = st.calls_begin; c < st.calls_end; ++c) callers_[g.call_edges[c].rule].push_back(g.call_edges[c].ret);
  for (auto& v : callers_) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
}

uint32_t StackPool::node(uint32_t state, uint32_t parent) {
  uint64_t key = (static_cast<uint64_t>(state) << 32) | parent;
  uint32_t found = node_index_.find(key);
  if (found != FlatMap64::kMissing) return found;
  bool special = parent >= kOuter;
  uint32_t depth = special ? 1 : nodes_[parent].depth + 1;
  if (depth > g_.limits.max_stack_depth) return UINT32_MAX;
  bool speculative = special ? parent == kOuter : nodes_[parent].speculative;
  nodes_.push_back({state, parent, depth, speculative});
  uint32_t id = static_cast<uint32_t>(nodes_.size() - 1);
  node_index_.insert(key, id);
  return id;
}

// Adds to `out` the leaf stacks reachable from stack n without reading: n itself if its top reads
// a byte; the callee starts of its calls; and, when its top is final, what its caller continues
// with. Terminates because left recursion is rejected at compile time (every call chain that reads
// nothing is finite) and visited_ stops the repeats of nullable calls.
void StackPool::closure(uint32_t n, std::vector<uint32_t>& out) {
  if (std::find(visited_.begin(), visited_.end(), n) != visited_.end()) return;
  visited_.push_back(n);
  const CompiledGrammar::State& st = g_.states[nodes_[n].state];
  if (st.bytes_begin != st.bytes_end) out.push_back(n);
  for (uint32_t c = st.calls_begin; c < st.calls_end; ++c) {
    auto call = g_.call_edges[c];
    uint32_t frame = node(call.ret, nodes_[n].parent);
    if (frame == UINT32_MAX) continue;
    uint32_t callee = node(g_.rule_start[call.rule], frame);
    if (callee != UINT32_MAX) closure(callee, out);
  }
  if (st.final) {
    uint32_t p = nodes_[n].parent;
    if (p < kOuter) {
      closure(p, out);
    } else if (p == kBottom) {
      out.push_back(kEnd);
    } else {  // the caller is unknown
      if (p == kContext) out.push_back(kEscape);
      expand_callers(st.rule, out);
    }
  }
}

void StackPool::expand_callers(uint32_t rule, std::vector<uint32_t>& out) {
  if (rule == g_.root) out.push_back(kOuterEnd);
  for (uint32_t ret : callers_[rule]) {
    uint32_t frame = node(ret, kOuter);
    if (frame != UINT32_MAX) closure(frame, out);
  }
}

uint32_t StackPool::intern_set(std::vector<uint32_t>& m) {
  std::sort(m.begin(), m.end());
  m.erase(std::unique(m.begin(), m.end()), m.end());
  if (m.empty()) return kDeadSet;
  uint64_t h = 1469598103934665603ull;
  for (uint32_t x : m) h = (h ^ x) * 1099511628211ull;
  auto [b, e] = set_index_.equal_range(h);
  for (auto it = b; it != e; ++it) {
    auto s = members(it->second);
    if (std::equal(s.begin(), s.end(), m.begin(), m.end())) return it->second;
  }
  uint32_t id = static_cast<uint32_t>(sets_.size());
  uint32_t depth = 0;
  bool sure = false;
  for (uint32_t x : m) {
    if (x < kOuter) depth = std::max(depth, nodes_[x].depth);
    sure = sure || (x < kOuter ? !nodes_[x].speculative : x != kOuterEnd);
  }
  sets_.push_back({static_cast<uint32_t>(set_data_.size()), static_cast<uint32_t>(set_data_.size() + m.size())});
  set_data_.insert(set_data_.end(), m.begin(), m.end());
  set_depth_.push_back(depth);
  set_sure_.push_back(sure ? 1 : 0);
  set_index_.emplace(h, id);
  return id;
}

uint32_t StackPool::start_set(uint32_t state, uint32_t parent) {
  std::vector<uint32_t> out;
  visited_.clear();
  uint32_t n = node(state, parent);
  if (n != UINT32_MAX) closure(n, out);
  return intern_set(out);
}

uint32_t StackPool::singleton(uint32_t n) {
  std::vector<uint32_t> out{n};
  return intern_set(out);
}

uint32_t StackPool::step_slow(uint32_t set, uint8_t byte) {
  scratch_.clear();
  std::vector<uint32_t> members_copy(members(set).begin(), members(set).end());
  for (uint32_t n : members_copy) {
    if (n >= kOuter) continue;
    const CompiledGrammar::State& st = g_.states[nodes_[n].state];
    for (uint32_t e = st.bytes_begin; e < st.bytes_end; ++e) {
      const auto& be = g_.byte_edges[e];
      if (byte < be.lo) break;  // sorted by lo
      if (byte > be.hi) continue;
      uint32_t t = node(be.target, nodes_[n].parent);
      if (t == UINT32_MAX) continue;
      visited_.clear();
      closure(t, scratch_);
    }
  }
  return intern_set(scratch_);
}

bool StackPool::contains(uint32_t set, uint32_t member) const {
  auto m = members(set);
  return std::binary_search(m.begin(), m.end(), member);
}

size_t StackPool::memory_bytes() const {
  return nodes_.size() * sizeof(Node) + node_index_.memory_bytes() + sets_.size() * 12 + set_data_.size() * 4 +
         set_index_.size() * 32 + memo_.memory_bytes();
}

}  // namespace qwen3::grammar
