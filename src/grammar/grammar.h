// Byte-level grammars for structured output: GBNF text -> CompiledGrammar (a pushdown automaton
// over bytes) -> Matcher (follows the bytes of generated tokens; rollback for speculation).
// Token masks over a whole vocabulary are in token_mask.h. The format is docs/grammar.md.
//
//   auto g = grammar::compile_grammar(R"(root ::= "yes" | "no")");
//   grammar::Matcher m(g);
//   m.accept_bytes("ye");   // true; m.can_end() == false
//   m.accept_bytes("s");    // true; m.can_end() == true
//   m.rollback(1);          // back to after "ye"
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::grammar {

// Bounds on the work a grammar may cause; exceeding one is a qwen3::Error that names it.
struct GrammarLimits {
  size_t max_text_bytes = 1 << 20;        // the GBNF text
  size_t max_rules = 4096;                // rules after parsing (groups do not count)
  size_t max_repetition = 10000;          // m and n of {m}, {m,}, {m,n}
  size_t max_states = 1 << 20;            // automaton states, counted while building
  size_t max_edges = 4 << 20;             // automaton edges (byte ranges + rule calls)
  size_t max_stack_depth = 1024;          // rule calls open at once while matching (JSON nesting)
};

class StackPool;

// The automaton. Each rule is an epsilon-free automaton whose edges either read one byte in a range
// or call another rule (and continue at `ret` when it completes). Immutable once built; share it.
class CompiledGrammar {
 public:
  struct ByteEdge { uint8_t lo, hi; uint32_t target; };
  struct CallEdge { uint32_t rule, ret; };
  struct State {
    uint32_t rule;
    bool final;                         // the rule may end here
    uint32_t bytes_begin, bytes_end;    // into byte_edges, sorted by lo, disjoint after merging
    uint32_t calls_begin, calls_end;    // into call_edges
  };

  std::vector<State> states;
  std::vector<ByteEdge> byte_edges;
  std::vector<CallEdge> call_edges;
  std::vector<uint32_t> rule_start;     // [rule] -> state
  std::vector<std::string> rule_names;  // [rule]; groups are not rules
  uint32_t root = 0;
  GrammarLimits limits;

  size_t num_states() const { return states.size(); }
  bool has_bytes(uint32_t s) const { return states[s].bytes_begin != states[s].bytes_end; }
  // Human-readable dump of the automaton (for tests and debugging).
  std::string to_string() const;
};

// Parses and compiles GBNF text. Throws qwen3::Error "grammar:LINE:COL: ..." for syntax errors,
// undefined rules, a missing root, left recursion (not supported: a rule that can reach itself
// without reading a byte), and "grammar: limit max_... exceeded (...)" for the limits.
std::shared_ptr<const CompiledGrammar> compile_grammar(std::string_view gbnf, const GrammarLimits& limits = {});

class TokenVocabulary;

// Follows generated text through a grammar. Copying is cheap (O(steps) 4-byte ids) and makes a fork
// that can go its own way; a matcher and its copies share one cache of stack configurations, so use
// them from one thread. The stack depth is bounded by GrammarLimits::max_stack_depth: a byte that
// would open more rule calls is rejected.
class Matcher {
 public:
  // `vocab` is needed only for accept_token().
  explicit Matcher(std::shared_ptr<const CompiledGrammar> grammar,
                   std::shared_ptr<const TokenVocabulary> vocab = nullptr);

  // All or nothing: on false the matcher is unchanged. On true, one step is recorded for rollback.
  bool accept_bytes(std::string_view bytes);
  // The token's bytes; a special token only if it is an end id and can_end(), which terminates.
  bool accept_token(int32_t id);
  // Undoes the last n steps (accept_bytes / accept_token calls that returned true).
  void rollback(size_t n);
  size_t num_steps() const { return history_.size(); }

  bool can_end() const;        // the text so far is a complete sentence of the grammar
  bool is_dead() const;        // no continuation is possible (never true after a successful step)
  bool is_terminated() const;  // an end token was accepted

  // Internals for TokenMasker: the current set of stacks (an id in the shared pool).
  uint32_t current_set() const { return current_; }
  StackPool& pool() const { return *pool_; }
  const CompiledGrammar& grammar() const { return *grammar_; }
  const std::shared_ptr<const TokenVocabulary>& vocabulary() const { return vocab_; }

 private:
  std::shared_ptr<const CompiledGrammar> grammar_;
  std::shared_ptr<const TokenVocabulary> vocab_;
  std::shared_ptr<StackPool> pool_;
  uint32_t current_ = 0;
  std::vector<uint32_t> history_;  // the set before each step
};

}  // namespace qwen3::grammar
