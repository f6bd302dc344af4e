// Ast -> CompiledGrammar. Each rule becomes a Thompson automaton over bytes (code point classes are
// split into UTF-8 byte-range sequences), epsilons are removed, states that cannot finish are
// trimmed, and left recursion is rejected (a rule that can call itself before reading a byte would
// make the matcher's stack grow without bound).
#include <algorithm>
#include <map>
#include <numeric>

#include "core/error.h"
#include "grammar/gbnf_ast.h"
#include "grammar/grammar.h"

namespace qwen3::grammar {
namespace {

using ByteSeq = std::vector<std::pair<uint8_t, uint8_t>>;  // one byte range per position

std::string encode(uint32_t cp) {
  std::string s;
  append_utf8(cp, s);
  return s;
}

// Splits code points [lo, hi] (no surrogates) into sequences of byte ranges whose concatenations
// are exactly the UTF-8 encodings of [lo, hi] (the RE2 / Go utf8 ranges construction).
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq>& out) {
  if (lo > hi) return;
  for (uint32_t b : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= b && b < hi) {
      utf8_sequences(lo, b, out);
      utf8_sequences(b + 1, hi, out);
      return;
    }
  }
  if (hi <= 0x7F) {
    out.push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
    return;
  }
  int n = static_cast<int>(encode(lo).size());
  for (int i = 1; i < n; ++i) {
    uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_sequences(lo, lo | m, out);
        utf8_sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_sequences(lo, (hi & ~m) - 1, out);
        utf8_sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::string a = encode(lo), b = encode(hi);
  ByteSeq seq;
  for (int i = 0; i < n; ++i) seq.push_back({static_cast<uint8_t>(a[i]), static_cast<uint8_t>(b[i])});
  out.push_back(std::move(seq));
}

// Rules whose references are compiled in place: small, with no `*`, `+` or `{m,}` of their own, not
// recursive, not the root. A token that crosses the end of a called rule depends on the caller, so
// it is checked against the real stack at every step; a one-character rule like `char` as a call
// makes almost every token of a string such a token, and in place none (docs/grammar.md, "Compile").
// A rule with an unbounded repetition (a whole `string`) stays a call: few tokens cross its end.
constexpr uint32_t kInlineWeight = 256;  // 4 per class range: about 2-4 times the automaton states
constexpr uint64_t kNever = uint64_t{1} << 32;

std::vector<bool> inlined_rules(const Ast& ast) {
  const size_t n = ast.rules.size();
  std::vector<std::vector<uint32_t>> refs(n);
  auto collect = [&](auto&& self, const AstNode& x, std::vector<uint32_t>& out) -> void {
    if (x.kind == AstNode::Kind::RuleRef) out.push_back(x.rule);
    for (const AstNode& c : x.children) self(self, c, out);
  };
  for (size_t r = 0; r < n; ++r) collect(collect, ast.rules[r].body, refs[r]);
  // recursive[r]: r can reach itself through references.
  std::vector<bool> recursive(n, false);
  std::vector<uint32_t> seen(n, UINT32_MAX), stack;
  for (uint32_t r = 0; r < n; ++r) {
    stack.assign(refs[r].begin(), refs[r].end());
    while (!stack.empty() && !recursive[r]) {
      uint32_t x = stack.back();
      stack.pop_back();
      if (x == r) recursive[r] = true;
      if (seen[x] == r) continue;
      seen[x] = r;
      stack.insert(stack.end(), refs[x].begin(), refs[x].end());
    }
  }
  // weight[r]: the size of r's body with its inlined references expanded (saturating).
  std::vector<uint64_t> weight(n, 0);
  std::vector<bool> inl(n, false), done(n, false);
  auto node_weight = [&](auto&& self, const AstNode& x) -> uint64_t {
    switch (x.kind) {
      case AstNode::Kind::Chars: return 4 * x.ranges.size();
      case AstNode::Kind::RuleRef: return inl[x.rule] ? weight[x.rule] : 1;
      case AstNode::Kind::Repeat: {
        if (x.max == kUnbounded) return kNever;  // a rule that matches unboundedly long text stays a call
        uint64_t copies = x.max;
        return std::min<uint64_t>(self(self, x.children[0]) * std::max<uint64_t>(copies, 1), kNever);
      }
      default: {
        uint64_t w = 1;
        for (const AstNode& c : x.children) w = std::min<uint64_t>(w + self(self, c), kNever);
        return w;
      }
    }
  };
  // Non-recursive rules in dependency order (callees first), so a body's references are decided.
  auto decide = [&](auto&& self, uint32_t r) -> void {
    if (done[r]) return;
    done[r] = true;
    for (uint32_t x : refs[r])
      if (!recursive[x]) self(self, x);
    weight[r] = node_weight(node_weight, ast.rules[r].body);
    inl[r] = !recursive[r] && r != ast.root && ast.rules[r].defined && weight[r] <= kInlineWeight;
  };
  for (uint32_t r = 0; r < n; ++r)
    if (!recursive[r]) decide(decide, r);
  return inl;
}

// The automaton with epsilon edges, all rules in one state space.
struct Nfa {
  struct St {
    std::vector<uint32_t> eps;
    std::vector<CompiledGrammar::ByteEdge> bytes;
    std::vector<CompiledGrammar::CallEdge> calls;
  };
  std::vector<St> st;
  size_t edges = 0;
  const GrammarLimits& limits;
  const Ast& ast;
  std::vector<bool> inline_rule;  // [rule]: a reference emits the body in place of a call

  Nfa(const GrammarLimits& l, const Ast& a) : limits(l), ast(a), inline_rule(inlined_rules(a)) {}
  uint32_t add() {
    if (st.size() >= limits.max_states)
      fail("grammar: limit max_states exceeded (more than {} automaton states)", limits.max_states);
    st.emplace_back();
    return static_cast<uint32_t>(st.size() - 1);
  }
  void count_edge() {
    if (++edges > limits.max_edges) fail("grammar: limit max_edges exceeded (more than {} automaton edges)", limits.max_edges);
  }
  void eps(uint32_t a, uint32_t b) { count_edge(); st[a].eps.push_back(b); }
  void byte(uint32_t a, uint8_t lo, uint8_t hi, uint32_t b) { count_edge(); st[a].bytes.push_back({lo, hi, b}); }
  void call(uint32_t a, uint32_t rule, uint32_t ret) { count_edge(); st[a].calls.push_back({rule, ret}); }

  // Appends `n` after state `in`; returns the state where it ends.
  uint32_t emit(const AstNode& n, uint32_t in) {
    switch (n.kind) {
      case AstNode::Kind::Seq: {
        uint32_t cur = in;
        for (const AstNode& c : n.children) cur = emit(c, cur);
        return cur;
      }
      case AstNode::Kind::Alt: {
        if (n.children.size() == 1) return emit(n.children[0], in);
        uint32_t out = add();
        for (const AstNode& c : n.children) {
          uint32_t s = add();
          eps(in, s);
          eps(emit(c, s), out);
        }
        return out;
      }
      case AstNode::Kind::Chars: return emit_chars(n.ranges, in);
      case AstNode::Kind::RuleRef: {
        if (inline_rule[n.rule]) return emit(ast.rules[n.rule].body, in);
        uint32_t out = add();
        call(in, n.rule, out);
        return out;
      }
      case AstNode::Kind::Repeat: return emit_repeat(n, in);
    }
    return in;
  }

  uint32_t emit_repeat(const AstNode& n, uint32_t in) {
    const AstNode& x = n.children[0];
    uint32_t cur = in;
    for (uint32_t i = 0; i < n.min; ++i) cur = emit(x, cur);
    if (n.max == kUnbounded) {
      uint32_t loop = add();
      eps(cur, loop);
      eps(emit(x, loop), loop);
      return loop;
    }
    uint32_t out = add();
    eps(cur, out);
    for (uint32_t i = n.min; i < n.max; ++i) {
      cur = emit(x, cur);
      eps(cur, out);
    }
    return out;
  }

  // The UTF-8 sequences of the class as a small trie from `in` to one end state.
  uint32_t emit_chars(const std::vector<CodepointRange>& ranges, uint32_t in) {
    std::vector<ByteSeq> seqs;
    for (auto r : ranges) utf8_sequences(r.lo, r.hi, seqs);
    uint32_t out = add();
    std::map<std::tuple<uint32_t, uint8_t, uint8_t>, uint32_t> trie;
    for (const ByteSeq& seq : seqs) {
      uint32_t cur = in;
      for (size_t i = 0; i < seq.size(); ++i) {
        auto [lo, hi] = seq[i];
        if (i + 1 == seq.size()) { byte(cur, lo, hi, out); break; }
        auto [it, fresh] = trie.try_emplace({cur, lo, hi}, 0);
        if (fresh) {
          it->second = add();
          byte(cur, lo, hi, it->second);
        }
        cur = it->second;
      }
    }
    return out;
  }
};

// Removes epsilons: the states kept are the rule starts and the targets of byte edges and calls;
// each takes the edges of its epsilon closure, and is final when the closure holds its rule's end.
void eliminate_epsilons(const Nfa& nfa, const std::vector<uint32_t>& starts, const std::vector<uint32_t>& ends,
                        const std::vector<uint32_t>& rule_of, CompiledGrammar& g) {
  std::vector<uint32_t> id(nfa.st.size(), UINT32_MAX);
  std::vector<uint32_t> order;
  auto keep = [&](uint32_t s) {
    if (id[s] == UINT32_MAX) { id[s] = static_cast<uint32_t>(order.size()); order.push_back(s); }
    return id[s];
  };
  for (uint32_t s : starts) keep(s);
  std::vector<uint32_t> mark(nfa.st.size(), UINT32_MAX), stack;
  for (size_t k = 0; k < order.size(); ++k) {  // order grows while we walk it (reachable states only)
    uint32_t s0 = order[k];
    uint32_t rule = rule_of[s0];
    CompiledGrammar::State out{rule, false, static_cast<uint32_t>(g.byte_edges.size()), 0,
                               static_cast<uint32_t>(g.call_edges.size()), 0};
    stack = {s0};
    mark[s0] = static_cast<uint32_t>(k);
    std::vector<CompiledGrammar::ByteEdge> bytes;
    std::vector<CompiledGrammar::CallEdge> calls;
    while (!stack.empty()) {
      uint32_t s = stack.back();
      stack.pop_back();
      if (s == ends[rule]) out.final = true;
      for (auto e : nfa.st[s].bytes) bytes.push_back({e.lo, e.hi, keep(e.target)});
      for (auto c : nfa.st[s].calls) calls.push_back({c.rule, keep(c.ret)});
      for (uint32_t t : nfa.st[s].eps)
        if (mark[t] != k) { mark[t] = static_cast<uint32_t>(k); stack.push_back(t); }
    }
    std::sort(bytes.begin(), bytes.end(), [](auto a, auto b) { return std::tie(a.lo, a.hi, a.target) < std::tie(b.lo, b.hi, b.target); });
    bytes.erase(std::unique(bytes.begin(), bytes.end(), [](auto a, auto b) { return a.lo == b.lo && a.hi == b.hi && a.target == b.target; }), bytes.end());
    std::sort(calls.begin(), calls.end(), [](auto a, auto b) { return std::tie(a.rule, a.ret) < std::tie(b.rule, b.ret); });
    calls.erase(std::unique(calls.begin(), calls.end(), [](auto a, auto b) { return a.rule == b.rule && a.ret == b.ret; }), calls.end());
    g.byte_edges.insert(g.byte_edges.end(), bytes.begin(), bytes.end());
    g.call_edges.insert(g.call_edges.end(), calls.begin(), calls.end());
    out.bytes_end = static_cast<uint32_t>(g.byte_edges.size());
    out.calls_end = static_cast<uint32_t>(g.call_edges.size());
    g.states.push_back(out);
  }
  g.rule_start.clear();
  for (uint32_t s : starts) g.rule_start.push_back(id[s]);
}

}  // namespace

std::shared_ptr<const CompiledGrammar> compile_grammar(std::string_view gbnf, const GrammarLimits& limits) {
  Ast ast = parse_gbnf(gbnf, limits);
  Nfa nfa(limits, ast);
  std::vector<uint32_t> starts, ends, rule_of;
  for (size_t r = 0; r < ast.rules.size(); ++r) starts.push_back(nfa.add());
  for (size_t r = 0; r < ast.rules.size(); ++r) {
    ends.push_back(nfa.emit(ast.rules[r].body, starts[r]));
    rule_of.resize(nfa.st.size(), static_cast<uint32_t>(r));
  }
  rule_of.resize(nfa.st.size());
  for (size_t r = 0; r < ast.rules.size(); ++r) rule_of[starts[r]] = static_cast<uint32_t>(r);
  auto g = std::make_shared<CompiledGrammar>();
  g->limits = limits;
  g->root = ast.root;
  for (const AstRule& r : ast.rules) g->rule_names.push_back(r.name);
  eliminate_epsilons(nfa, starts, ends, rule_of, *g);
  trim_and_check(*g, ast, gbnf);
  return g;
}

}  // namespace qwen3::grammar
