#include "engine/spec/verify.h"

#include <algorithm>

#include "core/error.h"

namespace qwen3::engine {

std::vector<SampleResult> verify_draft(std::span<const std::span<const float>> rows, const Draft& draft,
                                       const SamplingParams& params, std::span<const int32_t> prompt,
                                       std::span<const int32_t> output, Rng& rng, VerifyScratch& s,
                                       std::span<const TokenMask> masks) {
  const size_t k = draft.tokens.size();
  if (rows.size() != k + 1) fail("verify: {} drafted tokens need {} rows of logits, got {}", k, k + 1, rows.size());
  const bool rejection = !draft.q.empty() && params.temperature > 0;
  if (!masks.empty() && masks.size() != k + 1) fail("verify: {} rows need {} masks, got {}", k + 1, k + 1, masks.size());
  if (rejection && draft.q.size() != k) fail("verify: {} drafted tokens but {} draft distributions", k, draft.q.size());
  std::vector<SampleResult> out;
  s.history.assign(output.begin(), output.end());
  for (size_t i = 0; i <= k; ++i) {
    const std::span<const float> row = rows[i];
    const TokenMask mask = masks.empty() ? TokenMask{} : masks[i];
    if (!rejection || i == k) {
      // Point guesses (and the bonus token after a fully accepted draft): the plain sampler.
      out.push_back(sample(row, params, prompt, s.history, rng, s.sampler, mask));
      if (i == k || out.back().token != draft.tokens[i]) break;
      s.history.push_back(out.back().token);
      continue;
    }
    distribution(row, params, prompt, s.history, s.sampler, s.p, mask);
    const std::vector<float>& q = draft.q[i];
    if (q.size() != s.p.size()) fail("verify: draft distribution over {} tokens, target over {}", q.size(), s.p.size());
    const int32_t x = draft.tokens[i];
    const double px = s.p[size_t(x)], qx = q[size_t(x)];
    // Accept with probability min(1, p/q): u < p/q, i.e. u * q < p (q(x) > 0 since x was drawn from q).
    if (rng.uniform() * qx < px) {
      SampleResult r;
      r.token = x;
      fill_logprobs(r, row, params, s.sampler, mask);
      out.push_back(std::move(r));
      s.history.push_back(x);
      continue;
    }
    // Rejected: draw from max(0, p - q), renormalised (sample_from normalises). It has mass
    // whenever a rejection is possible (p(x) < q(x) means p exceeds q elsewhere), unless rounding
    // ate it: then p itself.
    s.residual.resize(s.p.size());
    double mass = 0;
    for (size_t t = 0; t < s.p.size(); ++t) mass += s.residual[t] = std::max(0.0f, s.p[t] - q[t]);
    SampleResult r;
    r.token = sample_from(mass > 0 ? std::span<const float>(s.residual) : std::span<const float>(s.p), rng);
    fill_logprobs(r, row, params, s.sampler, mask);
    out.push_back(std::move(r));
    break;
  }
  return out;
}

}  // namespace qwen3::engine
