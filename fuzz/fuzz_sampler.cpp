// The sampler (engine/sampler.h) on rows of arbitrary logits: NaN, infinities, huge values, ties,
// a grammar's mask, every sampling setting. Input: 4 bytes of settings, 2 bytes of vocabulary size
// (1..4,096), then one byte per logit from a palette (below), then the mask's bytes and the
// history's token ids.
//
// Checked beyond "no crash": the token is in the vocabulary; where some token the mask allows has a
// logit that is neither NaN nor -inf after bias and penalties, the drawn token is allowed and has
// such a logit (never a masked, a NaN or a -inf token), and greedy draws a largest one; distribution()
// sums to 1 (within 1e-5) over such tokens only, with finite, non-negative probabilities; logprobs
// are never NaN for the drawn token when every logit is finite.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <span>
#include <vector>

#include "engine/sampler.h"

namespace engine = qwen3::engine;

namespace {

[[noreturn]] void fail(const char* what, int64_t a = 0, int64_t b = 0) {
  std::fprintf(stderr, "fuzz_sampler: %s (%lld, %lld)\n", what, static_cast<long long>(a), static_cast<long long>(b));
  std::abort();
}

float logit_of(uint8_t c) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  switch (c) {
    case 0: return -kInf;
    case 1: return kInf;
    case 2: return std::numeric_limits<float>::quiet_NaN();
    case 3: return 3e38f;
    case 4: return -3e38f;
    case 5: return 1e-40f;  // denormal
    case 6: return 0.0f;
    case 7: return -0.0f;
    default: return float(int(c) - 136) * 0.375f;  // ties: 248 values in steps of 0.375
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 6) return 0;
  const uint8_t o0 = data[0], o1 = data[1], o2 = data[2], o3 = data[3];
  const size_t V = 1 + ((size_t(data[4]) << 8 | data[5]) % 4096);
  data += 6, size -= 6;
  std::vector<float> logits(V);
  for (size_t i = 0; i < V; ++i) logits[i] = logit_of(i < size ? data[i] : uint8_t(8 + i % 200));
  const size_t used = V < size ? V : size;
  data += used, size -= used;

  engine::SamplingParams p;
  static const double kTemps[] = {0, 0.05, 0.6, 1, 2, 1e-30};
  p.temperature = kTemps[o0 % 6];
  static const int64_t kTopK[] = {0, 1, 2, 20, 1000, -1, 5000, 0};
  p.top_k = kTopK[(o0 >> 3) % 8] < 0 ? 0 : kTopK[(o0 >> 3) % 8];
  static const double kTopP[] = {1, 0.95, 0.5, 1e-9, 0.999999, 1, 0.3, 0.8};
  p.top_p = kTopP[o1 % 8];
  static const double kMinP[] = {0, 0, 0.05, 0.5, 1, 0, 0.2, 1e-12};
  p.min_p = kMinP[(o1 >> 3) % 8];
  p.logprobs = o1 & 0x40;
  p.top_logprobs = o2 % 21;
  if (o2 & 0x80) p.repetition_penalty = 1.3;
  if (o3 & 1) p.presence_penalty = 1.5;
  if (o3 & 2) p.frequency_penalty = -2;
  if (o3 & 4) p.logit_bias = {{int64_t(o3) % int64_t(V), -100.0f}, {int64_t(o2) % int64_t(V), 100.0f}};
  // The mask: one bit per token from the input (all allowed when the input ends), or none.
  std::vector<uint32_t> mask;
  if (o3 & 8) {
    mask.assign((V + 31) / 32, 0);
    for (size_t i = 0; i < V; ++i) {
      const bool allow = i / 8 < size ? (data[i / 8] >> (i % 8)) & 1 : true;
      if (allow) mask[i / 32] |= 1u << (i % 32);
    }
    const size_t mbytes = (V + 7) / 8 < size ? (V + 7) / 8 : size;
    data += mbytes, size -= mbytes;
  }
  // History: the rest as token ids (some outside the vocabulary, which penalties ignore).
  std::vector<int32_t> prompt, output;
  for (size_t i = 0; i + 1 < size; i += 2) (i % 4 ? output : prompt).push_back(int32_t(data[i]) << 8 | data[i + 1]);

  // What the sampler sees after bias and penalties (the engine's own step), and which tokens a
  // draw may pick.
  engine::SamplerScratch s;
  const std::span<const float> processed = engine::process_logits(logits, p, prompt, output, s);
  const std::vector<float> seen(processed.begin(), processed.end());
  const engine::TokenMask m(mask);
  auto drawable = [&](size_t i) {
    return (mask.empty() || engine::mask_allows(m, int64_t(i))) && !std::isnan(seen[i]) &&
           seen[i] != -std::numeric_limits<float>::infinity();
  };
  bool any = false;
  float best = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < V; ++i)
    if (drawable(i)) any = true, best = seen[i] > best ? seen[i] : best;

  engine::Rng rng(uint64_t(o0) << 24 | uint64_t(o1) << 16 | uint64_t(o2) << 8 | o3);
  for (int draw = 0; draw < 4; ++draw) {
    const engine::SampleResult r = engine::sample(logits, p, prompt, output, rng, s, m);
    if (r.token < 0 || size_t(r.token) >= V) fail("token outside the vocabulary", r.token, int64_t(V));
    if (any && !drawable(size_t(r.token))) fail("drew a masked, NaN or -inf token", r.token, int64_t(V));
    if (any && p.temperature <= 0 && seen[size_t(r.token)] != best) fail("greedy drew a token below the best", r.token);
    bool all_finite = true;
    for (float x : logits) all_finite = all_finite && std::isfinite(x);
    if (p.logprobs && all_finite && mask.empty() && std::isnan(r.logprob)) fail("NaN logprob", r.token);
    if (int(r.top.size()) > p.top_logprobs) fail("more alternatives than asked", int64_t(r.top.size()));
  }
  std::vector<float> probs;
  engine::distribution(logits, p, prompt, output, s, probs, m);
  if (probs.size() != V) fail("distribution size", int64_t(probs.size()), int64_t(V));
  if (any) {
    double sum = 0;
    for (size_t i = 0; i < V; ++i) {
      if (!std::isfinite(probs[i]) || probs[i] < 0) fail("probability not finite or negative", int64_t(i));
      if (probs[i] > 0 && !drawable(i)) fail("probability on a masked, NaN or -inf token", int64_t(i));
      sum += probs[i];
    }
    if (std::abs(sum - 1) > 1e-5) fail("probabilities do not sum to 1", int64_t(sum * 1e9));
  }
  return 0;
}
