// What a request asks of generation: sampling, stopping, and what to report. One struct per
// choice; the server fills it from OpenAI JSON, with defaults from generation_config.json.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qwen3::grammar {
class CompiledGrammar;
class TokenMasker;
}

namespace qwen3::engine {

// Structured output: the generated tokens must spell a sentence of `grammar` (a byte-level
// grammar, grammar/grammar.h). Each step the sampler sees only the tokens the grammar allows
// (end-of-sequence ids once the text is complete); a choice with a constraint does not speculate.
// Reasoning stays free: with reasoning_open / reasoning_close set (Qwen3's <think> and </think>),
// the first token may also be reasoning_open, and from there on nothing is masked until
// reasoning_close, after which the grammar applies; in_reasoning: the prompt already opened it.
struct Constraint {
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  // Optional: the grammar's masker over the engine's vocabulary, built (and precomputed) off the
  // engine thread; once handed over only the engine thread uses it. Null: the engine makes one.
  std::shared_ptr<grammar::TokenMasker> masker;
  int32_t reasoning_open = -1, reasoning_close = -1;
  bool in_reasoning = false;
};

struct SamplingParams {
  // --- the distribution (see sampler.h for the order in which these apply) ---
  double temperature = 1.0;          // 0: greedy (argmax after logit_bias and penalties)
  int64_t top_k = 0;                 // <= 0: off
  double top_p = 1.0;                // 1: off
  double min_p = 0.0;                // 0: off
  double presence_penalty = 0.0;     // OpenAI: minus this for each token already generated
  double frequency_penalty = 0.0;    // OpenAI: minus this times the count in the generated tokens
  double repetition_penalty = 1.0;   // CTRL / transformers: over prompt and generated tokens
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits first
  std::optional<uint64_t> seed;      // none: a random seed per request
  std::shared_ptr<const Constraint> constraint;  // structured output; null: none

  // --- stopping ---
  int64_t max_tokens = 16;           // generated tokens per choice
  std::vector<std::string> stop;     // strings; matched across token boundaries, not returned
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;           // do not stop at the model's end-of-sequence ids

  // --- reporting ---
  int n = 1;                         // choices; the prompt's KV pages are forked, not recomputed
  bool logprobs = false;             // report the chosen token's log-probability
  int top_logprobs = 0;              // and this many most likely alternatives (0..20)
};

}  // namespace qwen3::engine
