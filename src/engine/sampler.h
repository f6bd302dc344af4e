// Choosing the next token from one row of logits, as a pure function of (logits, params, history,
// random state). The result for a request never depends on its batch mates: each request owns its
// random generator.
//
// Order (that of transformers' LogitsProcessor list and vLLM's sampler):
//   1. logit_bias is added;
//   2. repetition_penalty over tokens in prompt and output (CTRL: a positive logit is divided by the
//      penalty, a negative one multiplied); frequency and presence penalties over output tokens
//      (OpenAI: l -= frequency * count + presence * [count > 0]);
//   2b. with a grammar mask (structured output), tokens it does not allow get -inf;
//   3. temperature 0: greedy, the first maximum of the penalised logits; otherwise l / temperature;
//   4. softmax; top_k keeps the k most probable; top_p keeps the smallest most-probable set whose
//      probability reaches top_p (a token is kept when the mass strictly before it is < top_p);
//      min_p keeps tokens with p >= min_p * max p (all three: transformers' order); ties in
//      probability are broken by the smaller token id;
//   5. one draw u in [0, 1) from the request's generator picks the token by the cumulative
//      renormalised probabilities of the kept tokens: in descending order under top_k, otherwise
//      in token id order (top_p: the tokens of the value bucket where the nucleus ends last, in
//      descending order); the order decides which token a given u draws, not the distribution,
//      and saves sorting the vocabulary (sampler.cpp, candidates).
// Log-probabilities are those of the model (log_softmax of the raw logits, before 1-5), as vLLM
// reports by default; top_logprobs lists the most likely tokens under that distribution. With a
// grammar mask they are taken after masking (log_softmax over the allowed tokens only), and
// top_logprobs lists allowed tokens only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampling_params.h"

namespace qwen3::engine {

// SplitMix64-seeded xoshiro256**: fast, fully specified (the same stream on every platform and
// standard library, unlike std::uniform_real_distribution).
class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next();
  double uniform();  // [0, 1), 53 random bits
 private:
  uint64_t s_[4];
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0;                // of `token` under the model; set when params.logprobs
  std::vector<TokenLogprob> top;    // params.top_logprobs entries, most likely first
};

// Reused buffers (one per engine, the sampler runs on the engine thread): no allocation per token
// after the first.
struct SamplerScratch {
  std::vector<float> logits;
  std::vector<int32_t> order;
  std::vector<float> probs;
  std::vector<int32_t> counts;  // [vocab], zero between calls
  std::vector<float> masked;    // raw logits with a grammar mask applied (for logprobs)
  std::vector<float> weights;   // top_p without top_k: every token's exp(l - max)
  std::vector<uint16_t> buckets;  // and its value bucket
  std::vector<int32_t> tail;    // the tokens of one bucket
  std::vector<double> block_sums;  // the candidates' weights by block (the draw)
};

// A grammar's token mask: bit (id % 32) of word id / 32 is set when id is allowed; ids past the
// mask's end are not. Empty: no mask.
using TokenMask = std::span<const uint32_t>;
inline bool mask_allows(TokenMask m, int64_t id) {
  return size_t(id >> 5) < m.size() && ((m[size_t(id >> 5)] >> (id & 31)) & 1u);
}

// Steps 1 and 2 of the header on a copy of `logits` (in scratch.logits, which is returned).
std::span<const float> process_logits(std::span<const float> logits, const SamplingParams& params,
                                      std::span<const int32_t> prompt, std::span<const int32_t> output,
                                      SamplerScratch& scratch);

// `prompt` and `output` are the request's tokens so far (for the penalties).
// A non-empty `mask` must allow at least one id.
SampleResult sample(std::span<const float> logits, const SamplingParams& params, std::span<const int32_t> prompt,
                    std::span<const int32_t> output, Rng& rng, SamplerScratch& scratch, TokenMask mask = {});

// The distribution sample() draws from, as probabilities over the whole vocabulary (steps 1-4;
// they sum to 1 up to rounding): temperature 0 puts 1 on the greedy token. Speculative decoding
// compares the target's and the draft's distributions with it (spec/verify.h).
void distribution(std::span<const float> logits, const SamplingParams& params, std::span<const int32_t> prompt,
                  std::span<const int32_t> output, SamplerScratch& scratch, std::vector<float>& probs,
                  TokenMask mask = {});
// logprob and top_logprobs of `token` as sample() reports them (after `mask` when one is given).
void fill_logprobs(SampleResult& r, std::span<const float> logits, const SamplingParams& params,
                   SamplerScratch& scratch, TokenMask mask = {});
// One draw from `probs` (weights >= 0, not necessarily normalised) with one rng.uniform(): the
// first token whose cumulative weight, in id order, exceeds u * sum.
int32_t sample_from(std::span<const float> probs, Rng& rng);

// log(sum(exp(logits))), the exponentials relative to the maximum in float (within 2 ulp) and
// summed in double; -inf for no logits, the maximum itself when it is not finite.
double log_sum_exp(std::span<const float> logits);

// The k most likely tokens of log_softmax(logits), most likely first (ties: smaller id first), and
// the log-probability of `token`.
std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, int k, int32_t token, float* token_logprob);

}  // namespace qwen3::engine
