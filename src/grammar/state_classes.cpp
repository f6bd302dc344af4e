#include "grammar/state_classes.h"

#include <algorithm>

namespace qwen3::grammar {
namespace {

using State = CompiledGrammar::State;

uint64_t mix(uint64_t x, uint64_t k) {  // splitmix64's finalizer, keyed
  x += k;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
constexpr uint64_t kKey1 = 0x9E3779B97F4A7C15ull, kKey2 = 0xD1B54A32D192ED03ull;

// Rules that can match the empty string (a final state reachable through calls of such rules).
std::vector<bool> nullable_rules(const CompiledGrammar& g) {
  const size_t nr = g.rule_start.size();
  std::vector<bool> nullable(nr, false);
  std::vector<uint32_t> mark(g.states.size(), UINT32_MAX), todo;
  uint32_t stamp = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (uint32_t r = 0; r < nr; ++r) {
      if (nullable[r] || g.rule_start[r] == UINT32_MAX) continue;
      ++stamp;
      todo.assign(1, g.rule_start[r]);
      mark[g.rule_start[r]] = stamp;
      while (!todo.empty() && !nullable[r]) {
        const State& st = g.states[todo.back()];
        todo.pop_back();
        if (st.final) { nullable[r] = changed = true; break; }
        for (uint32_t c = st.calls_begin; c < st.calls_end; ++c) {
          const auto call = g.call_edges[c];
          if (nullable[call.rule] && mark[call.ret] != stamp) { mark[call.ret] = stamp; todo.push_back(call.ret); }
        }
      }
    }
  }
  return nullable;
}

// The longest chain of calls that may read nothing (edges s -> ret of calls of nullable rules), or
// UINT32_MAX when such calls form a cycle.
uint32_t longest_empty_call_chain(const CompiledGrammar& g, const std::vector<bool>& nullable) {
  const size_t n = g.states.size();
  std::vector<uint32_t> indeg(n, 0), len(n, 0), todo;
  for (const State& st : g.states)
    for (uint32_t c = st.calls_begin; c < st.calls_end; ++c)
      if (nullable[g.call_edges[c].rule]) ++indeg[g.call_edges[c].ret];
  for (uint32_t s = 0; s < n; ++s)
    if (indeg[s] == 0) todo.push_back(s);
  size_t seen = 0;
  uint32_t longest = 0;
  while (!todo.empty()) {
    uint32_t s = todo.back();
    todo.pop_back();
    ++seen;
    longest = std::max(longest, len[s]);
    const State& st = g.states[s];
    for (uint32_t c = st.calls_begin; c < st.calls_end; ++c) {
      const auto call = g.call_edges[c];
      if (!nullable[call.rule]) continue;
      len[call.ret] = std::max(len[call.ret], len[s] + 1);
      if (--indeg[call.ret] == 0) todo.push_back(call.ret);
    }
  }
  return seen == n ? longest : UINT32_MAX;
}

// Numbers 128-bit signatures densely, in order of first appearance (open addressing).
class SignatureTable {
 public:
  explicit SignatureTable(size_t n) {
    size_t cap = 64;
    while (cap < 2 * n) cap *= 2;
    k1_.resize(cap);
    k2_.resize(cap);
    id_.resize(cap);
  }
  void clear() {
    std::fill(id_.begin(), id_.end(), UINT32_MAX);
    size_ = 0;
  }
  uint32_t id(uint64_t a, uint64_t b) {
    for (size_t i = a & (id_.size() - 1);; i = (i + 1) & (id_.size() - 1)) {
      if (id_[i] == UINT32_MAX) {
        k1_[i] = a;
        k2_[i] = b;
        return id_[i] = size_++;
      }
      if (k1_[i] == a && k2_[i] == b) return id_[i];
    }
  }
  uint32_t size() const { return size_; }

 private:
  std::vector<uint64_t> k1_, k2_;
  std::vector<uint32_t> id_;
  uint32_t size_ = 0;
};

}  // namespace

StateClasses state_classes(const CompiledGrammar& g, uint32_t depth, uint64_t max_work) {
  const size_t n = g.states.size();
  StateClasses out;
  auto identity = [&] {
    out.of.resize(n);
    out.rep.resize(n);
    for (uint32_t s = 0; s < n; ++s) out.of[s] = out.rep[s] = s;
    out.identity = true;
    return out;
  };
  const uint32_t chain = longest_empty_call_chain(g, nullable_rules(g));
  if (chain == UINT32_MAX) return identity();
  const uint64_t rounds = (uint64_t{depth} + 1) * (uint64_t{chain} + 1) + 1;
  if (rounds * (n + g.byte_edges.size() + g.call_edges.size()) > max_work) return identity();

  SignatureTable table(n);
  std::vector<uint32_t> cls(n), next(n);
  table.clear();
  for (uint32_t s = 0; s < n; ++s) cls[s] = table.id(mix(g.states[s].rule, kKey1), g.states[s].final ? 1 : 0);
  uint32_t count = table.size();
  for (uint64_t r = 0; r < rounds; ++r) {
    table.clear();
    for (uint32_t s = 0; s < n; ++s) {
      const State& st = g.states[s];
      uint64_t a = 0, b = 0;  // sums: the edges as a multiset
      for (uint32_t e = st.bytes_begin; e < st.bytes_end; ++e) {
        const auto& be = g.byte_edges[e];
        const uint64_t t = (uint64_t{1} << 56) | (uint64_t{be.lo} << 48) | (uint64_t{be.hi} << 40) | cls[be.target];
        a += mix(t, kKey1);
        b += mix(t, kKey2);
      }
      for (uint32_t c = st.calls_begin; c < st.calls_end; ++c) {
        const auto& ce = g.call_edges[c];
        const uint64_t t = (uint64_t{2} << 56) | (uint64_t{ce.rule} << 32) | cls[ce.ret];
        a += mix(t, kKey1);
        b += mix(t, kKey2);
      }
      next[s] = table.id(mix(a ^ mix(cls[s], kKey2), kKey1), mix(b ^ mix(cls[s], kKey1), kKey2));
    }
    cls.swap(next);
    ++out.rounds;
    if (table.size() == count) break;  // no class split: the partition is final
    count = table.size();
  }
  out.of = std::move(cls);
  out.rep.assign(count, UINT32_MAX);
  for (uint32_t s = 0; s < n; ++s)
    if (out.rep[out.of[s]] == UINT32_MAX) out.rep[out.of[s]] = s;
  return out;
}

}  // namespace qwen3::grammar
