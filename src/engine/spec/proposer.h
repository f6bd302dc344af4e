// Speculative decoding, the proposing half: a Proposer guesses the next k tokens of several
// running sequences at once; the engine core verifies every guess with one forward pass of the
// target model (spec/verify.h) and keeps what the target itself would have produced, so the output
// does not depend on the proposer, only the speed does.
//
//   std::vector<DraftRequest> reqs = ...;  // the sequences that decode this step, with their k
//   std::vector<Draft> drafts;
//   proposer.propose(reqs, drafts);       // drafts[i] for reqs[i], at most reqs[i].k tokens
//   ... verify, accept a prefix of each draft ...
//   proposer.release(id);                 // the sequence finished or was preempted
//
// Proposers keep per-sequence state between calls (a draft model's KV cache) but never assume the
// previous draft was accepted: each call gets the sequence's tokens as they are now and brings its
// state in line with them (rolling back what was rejected).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/sampling_params.h"
#include "kv/kv_cache.h"

namespace qwen3::engine {

struct DraftRequest {
  SeqId id = 0;                     // the request (choice) id, stable while it lives
  std::span<const int32_t> tokens;  // prompt + output so far; the target has not computed the last one
  int64_t prompt_len = 0;           // tokens[0, prompt_len) is the prompt (for the penalties)
  int k = 0;                        // draft at most this many tokens (>= 1)
  const SamplingParams* params = nullptr;  // a draft model samples with the same processing as the target
  Rng* rng = nullptr;               // its own stream for sampled drafting (not the target's)
};

struct Draft {
  std::vector<int32_t> tokens;      // 0..k proposed tokens (0: nothing to propose)
  // When the proposer has a distribution (a draft model sampling at temperature > 0): q[i] is the
  // probability over the target's vocabulary from which tokens[i] was drawn, after the request's
  // logit processing (bias, penalties, temperature, top-k / top-p / min-p). Empty otherwise: the
  // tokens are then point guesses, verified by sampling the target and comparing.
  std::vector<std::vector<float>> q;
};

class Proposer {
 public:
  virtual ~Proposer() = default;
  virtual std::string name() const = 0;  // "ngram", "draft", "self-q4", ...
  // out.size() == reqs.size() afterwards. Never throws for lack of memory: a sequence the proposer
  // cannot serve (its KV cache is full) gets an empty draft.
  virtual void propose(std::span<const DraftRequest> reqs, std::vector<Draft>& out) = 0;
  // Forget the sequence (finished, cancelled or preempted) and free what it holds. Unknown ids are
  // ignored.
  virtual void release(SeqId id) { (void)id; }
  // Bytes of KV memory the proposer holds for its sequences (0 for stateless proposers).
  virtual int64_t kv_bytes() const { return 0; }
  // Bytes of weights one draft round reads (0: no model). Decode is bandwidth-bound, so this over
  // the target's weight bytes is the prior for a draft round's relative cost (draft_length.h).
  virtual int64_t weight_bytes() const { return 0; }
};

}  // namespace qwen3::engine
