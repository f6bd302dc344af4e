// Classes of automaton states that no token can tell apart, so that they can share one token-mask
// entry (TokenMasker). A bounded repetition such as `"\"" char{0,4000} "\""` compiles to 4,000
// chains of states; all but the last few are indistinguishable to a token of at most 128 bytes,
// yet each would otherwise cost a walk over the whole vocabulary.
//
// Two states share a class when they belong to the same rule and are bisimilar up to `depth`
// bytes: the same final flag, and for every byte edge or call of one, an edge of the other with the
// same byte range (or the same called rule) into a state of the same class one level down.
// Partition refinement, one round per level; signatures are 128-bit hashes of the edges' classes.
// Internal to src/grammar/.
#pragma once

#include <cstdint>
#include <vector>

#include "grammar/grammar.h"

namespace qwen3::grammar {

struct StateClasses {
  std::vector<uint32_t> of;          // [state] -> class
  std::vector<uint32_t> rep;         // [class] -> its lowest state
  uint32_t rounds = 0;               // refinement rounds run
  bool identity = false;             // every state its own class (refinement not attempted)
};

// Bisimilar up to `depth` bytes (a token's length). Calls to rules that can match the empty string
// consume a round without a byte, so the rounds are (depth + 1) * (the longest run of such calls + 1);
// when that run is unbounded (a cycle) or the rounds times the edges exceed `max_work`, every state
// is its own class.
StateClasses state_classes(const CompiledGrammar& g, uint32_t depth, uint64_t max_work = uint64_t{1} << 30);

}  // namespace qwen3::grammar
