// Speculative decoding, the verifying half: given the target model's logits at the last computed
// token and at each of k drafted tokens (k + 1 rows from one forward pass), decide which drafted
// tokens to keep and which token follows them, so that every emitted token is distributed exactly
// as if the target had sampled it alone.
//
// Two rules, chosen by what the proposer knows:
//  - point guesses (n-gram, or any draft at temperature 0): sample the target at each position in
//    turn with sample() and keep going while the sample equals the draft. Each emitted token is
//    drawn by the plain sampler with one rng.uniform() (none when greedy), so the output is the
//    one decoding without speculation gives, bit for bit, seeded sampling included.
//  - a draft distribution q (a draft model sampling at temperature > 0): the standard rejection
//    rule of Leviathan et al. / Chen et al.: draft token x is accepted with probability
//    min(1, p(x) / q(x)); on the first rejection the token is drawn from the normalised residual
//    max(0, p - q); when every draft is accepted one more token is drawn from p at the last row.
//    p and q are both after the request's processing (bias, penalties, temperature, top-k/p, min-p;
//    sampler.h, distribution()), with the drafts accepted so far counted in the penalties' history.
// Log-probabilities of the emitted tokens are those of the raw target logits, as without speculation.
// Structured output: masks[i] (one per row, or none) is the grammar's mask after draft[0..i); p is
// taken under it, so a drafted token the grammar forbids is never kept.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampler.h"
#include "engine/spec/proposer.h"

namespace qwen3::engine {

struct VerifyScratch {
  SamplerScratch sampler;
  std::vector<int32_t> history;  // output + accepted drafts
  std::vector<float> p, residual;
};

// rows[i] (i = 0..k) are the target logits after tokens[..last] + draft[0..i). Returns the
// emitted tokens: the accepted drafts then one token (1..k+1 entries); each entry's
// logprob / top are filled when params ask for them.
std::vector<SampleResult> verify_draft(std::span<const std::span<const float>> rows, const Draft& draft,
                                       const SamplingParams& params, std::span<const int32_t> prompt,
                                       std::span<const int32_t> output, Rng& rng, VerifyScratch& scratch,
                                       std::span<const TokenMask> masks = {});

}  // namespace qwen3::engine
