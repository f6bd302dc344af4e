// The last passes of compile_grammar(): trim what cannot finish, keep what root reaches, reject
// left recursion, merge byte ranges; and CompiledGrammar::to_string().
#include <algorithm>
#include <functional>

#include "core/error.h"
#include "grammar/gbnf_ast.h"
#include "grammar/grammar.h"

namespace qwen3::grammar {
namespace {

using State = CompiledGrammar::State;

// can_finish[s]: some string leads from s to the end of its rule (calls must themselves finish).
// A worklist over reverse edges: linear in the edges even for long chains like "a"{10000}.
std::vector<bool> finishing_states(const CompiledGrammar& g) {
  const size_t n = g.states.size();
  std::vector<bool> fin(n, false);
  std::vector<std::vector<uint32_t>> preds(n);  // states whose test reads fin[t]
  for (uint32_t s = 0; s < n; ++s) {
    const State& st = g.states[s];
    for (uint32_t e = st.bytes_begin; e < st.bytes_end; ++e) preds[g.byte_edges[e].target].push_back(s);
    for (uint32_t c = st.calls_begin; c < st.calls_end; ++c) {
      preds[g.call_edges[c].ret].push_back(s);
      preds[g.rule_start[g.call_edges[c].rule]].push_back(s);
    }
  }
  auto finishes = [&](uint32_t s) {
    const State& st = g.states[s];
    for (uint32_t e = st.bytes_begin; e < st.bytes_end; ++e)
      if (fin[g.byte_edges[e].target]) return true;
    for (uint32_t c = st.calls_begin; c < st.calls_end; ++c)
      if (fin[g.rule_start[g.call_edges[c].rule]] && fin[g.call_edges[c].ret]) return true;
    return false;
  };
  std::vector<uint32_t> todo;
  for (uint32_t s = 0; s < n; ++s)
    if (g.states[s].final) { fin[s] = true; todo.push_back(s); }
  while (!todo.empty()) {
    uint32_t t = todo.back();
    todo.pop_back();
    for (uint32_t s : preds[t])
      if (!fin[s] && finishes(s)) { fin[s] = true; todo.push_back(s); }
  }
  return fin;
}

// Rebuilds g with only the states root reaches, and the edges whose ends can finish.
void keep_live(CompiledGrammar& g, const std::vector<bool>& fin) {
  std::vector<uint32_t> id(g.states.size(), UINT32_MAX), order;
  auto visit = [&](uint32_t s) {
    if (id[s] == UINT32_MAX) { id[s] = static_cast<uint32_t>(order.size()); order.push_back(s); }
  };
  auto live_call = [&](CompiledGrammar::CallEdge c) { return fin[g.rule_start[c.rule]] && fin[c.ret]; };
  visit(g.rule_start[g.root]);
  for (size_t k = 0; k < order.size(); ++k) {
    const State& st = g.states[order[k]];
    for (uint32_t e = st.bytes_begin; e < st.bytes_end; ++e)
      if (fin[g.byte_edges[e].target]) visit(g.byte_edges[e].target);
    for (uint32_t c = st.calls_begin; c < st.calls_end; ++c)
      if (live_call(g.call_edges[c])) { visit(g.rule_start[g.call_edges[c].rule]); visit(g.call_edges[c].ret); }
  }
  CompiledGrammar out;
  for (uint32_t s : order) {
    State st = g.states[s];
    State n{st.rule, st.final, static_cast<uint32_t>(out.byte_edges.size()), 0, static_cast<uint32_t>(out.call_edges.size()), 0};
    for (uint32_t e = st.bytes_begin; e < st.bytes_end; ++e) {
      auto be = g.byte_edges[e];
      if (!fin[be.target]) continue;
      be.target = id[be.target];
      auto& v = out.byte_edges;  // merge [a-c]->t, [d-f]->t (edges are sorted by lo)
      if (static_cast<uint32_t>(v.size()) > n.bytes_begin && v.back().target == be.target && v.back().hi + 1 == be.lo)
        v.back().hi = be.hi;
      else
        v.push_back(be);
    }
    for (uint32_t c = st.calls_begin; c < st.calls_end; ++c)
      if (live_call(g.call_edges[c])) out.call_edges.push_back({g.call_edges[c].rule, id[g.call_edges[c].ret]});
    n.bytes_end = static_cast<uint32_t>(out.byte_edges.size());
    n.calls_end = static_cast<uint32_t>(out.call_edges.size());
    out.states.push_back(n);
  }
  for (uint32_t& s : g.rule_start) s = (s != UINT32_MAX && id[s] != UINT32_MAX) ? id[s] : UINT32_MAX;
  g.states = std::move(out.states);
  g.byte_edges = std::move(out.byte_edges);
  g.call_edges = std::move(out.call_edges);
}

// Fails naming the cycle when a rule can call itself before reading any byte.
void reject_left_recursion(const CompiledGrammar& g, const Ast& ast, std::string_view text) {
  size_t nr = g.rule_start.size();
  std::vector<bool> nullable(nr, false);
  // The states of rule r reachable from its start without reading a byte (through nullable calls).
  auto null_reach = [&](uint32_t r, auto&& on_state) {
    std::vector<uint32_t> todo{g.rule_start[r]}, seen = todo;
    while (!todo.empty()) {
      uint32_t s = todo.back();
      todo.pop_back();
      on_state(s);
      const State& st = g.states[s];
      for (uint32_t c = st.calls_begin; c < st.calls_end; ++c) {
        auto call = g.call_edges[c];
        if (nullable[call.rule] && std::find(seen.begin(), seen.end(), call.ret) == seen.end()) {
          seen.push_back(call.ret);
          todo.push_back(call.ret);
        }
      }
    }
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (uint32_t r = 0; r < nr; ++r) {
      if (nullable[r] || g.rule_start[r] == UINT32_MAX) continue;
      bool f = false;
      null_reach(r, [&](uint32_t s) { f = f || g.states[s].final; });
      if (f) { nullable[r] = true; changed = true; }
    }
  }
  std::vector<std::vector<uint32_t>> callees(nr);
  for (uint32_t r = 0; r < nr; ++r) {
    if (g.rule_start[r] == UINT32_MAX) continue;
    null_reach(r, [&](uint32_t s) {
      const State& st = g.states[s];
      for (uint32_t c = st.calls_begin; c < st.calls_end; ++c) callees[r].push_back(g.call_edges[c].rule);
    });
  }
  std::vector<int> color(nr, 0);  // 0 new, 1 on the path, 2 done
  std::vector<uint32_t> path;
  std::function<void(uint32_t)> dfs = [&](uint32_t r) {
    color[r] = 1;
    path.push_back(r);
    for (uint32_t c : callees[r]) {
      if (color[c] == 1) {
        std::string cycle;
        auto from = std::find(path.begin(), path.end(), c);
        for (auto it = from; it != path.end(); ++it) cycle += g.rule_names[*it] + " -> ";
        cycle += g.rule_names[c];
        fail("grammar:{}: left recursion is not supported: rule '{}' can reach itself before reading a byte ({}); "
             "write it with repetition instead", line_column(text, ast.rules[c].pos.offset), g.rule_names[c], cycle);
      }
      if (color[c] == 0) dfs(c);
    }
    path.pop_back();
    color[r] = 2;
  };
  for (uint32_t r = 0; r < nr; ++r)
    if (color[r] == 0 && g.rule_start[r] != UINT32_MAX) dfs(r);
}

}  // namespace

void trim_and_check(CompiledGrammar& g, const Ast& ast, std::string_view text) {
  std::vector<bool> fin = finishing_states(g);
  if (!fin[g.rule_start[g.root]])
    fail("grammar:{}: rule 'root' matches no finite string", line_column(text, ast.rules[g.root].pos.offset));
  keep_live(g, fin);
  reject_left_recursion(g, ast, text);
}

std::string CompiledGrammar::to_string() const {
  std::string out;
  for (size_t s = 0; s < states.size(); ++s) {
    const State& st = states[s];
    out += fmt::format("{}{} [{}]:", s, st.final ? "*" : "", rule_names[st.rule]);
    for (uint32_t e = st.bytes_begin; e < st.bytes_end; ++e)
      out += fmt::format(" {:02x}-{:02x}->{}", byte_edges[e].lo, byte_edges[e].hi, byte_edges[e].target);
    for (uint32_t c = st.calls_begin; c < st.calls_end; ++c)
      out += fmt::format(" call {}->{}", rule_names[call_edges[c].rule], call_edges[c].ret);
    out += "\n";
  }
  return out;
}

}  // namespace qwen3::grammar
