#include "engine/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace qwen3::engine {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Higher value first, then smaller id: a total order, so selection and sorting are deterministic.
struct ByValueDesc {
  const float* v;
  bool operator()(int32_t a, int32_t b) const { return v[a] > v[b] || (v[a] == v[b] && a < b); }
};

bool needs_processing(const SamplingParams& p) {
  return !p.logit_bias.empty() || p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 ||
         p.frequency_penalty != 0.0;
}

// Steps 1 and 2 of the header, in place on a copy of the logits.
void apply_bias_and_penalties(std::vector<float>& l, const SamplingParams& p, std::span<const int32_t> prompt,
                              std::span<const int32_t> output, SamplerScratch& s) {
  const int64_t V = int64_t(l.size());
  for (auto& [tok, bias] : p.logit_bias)
    if (tok >= 0 && tok < V) l[size_t(tok)] += bias;
  if (s.counts.size() != l.size()) s.counts.assign(l.size(), 0);
  if (p.repetition_penalty != 1.0) {
    const float r = float(p.repetition_penalty);
    // counts[t] marks "penalised already" here (1), then is reset.
    auto penalise = [&](int32_t t) {
      if (t < 0 || t >= V || s.counts[size_t(t)]) return;
      s.counts[size_t(t)] = 1;
      float& x = l[size_t(t)];
      x = x > 0 ? x / r : x * r;
    };
    for (int32_t t : prompt) penalise(t);
    for (int32_t t : output) penalise(t);
    for (int32_t t : prompt) if (t >= 0 && t < V) s.counts[size_t(t)] = 0;
    for (int32_t t : output) if (t >= 0 && t < V) s.counts[size_t(t)] = 0;
  }
  if (p.presence_penalty != 0.0 || p.frequency_penalty != 0.0) {
    for (int32_t t : output) if (t >= 0 && t < V) ++s.counts[size_t(t)];
    for (int32_t t : output) {
      if (t < 0 || t >= V || s.counts[size_t(t)] == 0) continue;
      const int32_t c = s.counts[size_t(t)];
      l[size_t(t)] -= float(p.frequency_penalty * c + p.presence_penalty);
      s.counts[size_t(t)] = 0;  // applied once per distinct token
    }
  }
}

int32_t first_argmax(std::span<const float> v) {
  return int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

// Step 4 on s.logits (bias and penalties applied): divides by the temperature, then leaves in
// s.order the candidate tokens and in s.probs their unnormalised weights exp(l - max), zero where
// min_p removed them; the first `kept` candidates survive top_k / top_p, they weigh zk in all, and
// `last` is the last with a weight > 0.
struct Candidates {
  size_t kept = 0, last = 0;
  double zk = 0;
};
Candidates candidates(const SamplingParams& p, SamplerScratch& s) {
  const int32_t V = int32_t(s.logits.size());
  float* l = s.logits.data();
  const float inv_t = float(1.0 / p.temperature);
  for (int32_t i = 0; i < V; ++i) l[i] *= inv_t;
  // Candidates: the top_k when set (sorted), all tokens sorted when top_p needs the order, else
  // all tokens in id order.
  auto& order = s.order;
  order.resize(size_t(V));
  for (int32_t i = 0; i < V; ++i) order[size_t(i)] = i;
  const ByValueDesc cmp{l};
  if (p.top_k > 0 && p.top_k < V) {
    std::nth_element(order.begin(), order.begin() + (p.top_k - 1), order.end(), cmp);
    order.resize(size_t(p.top_k));
    std::sort(order.begin(), order.end(), cmp);
  } else if (p.top_p < 1.0) {
    std::sort(order.begin(), order.end(), cmp);
  }
  float m = -std::numeric_limits<float>::infinity();
  for (int32_t t : order) m = std::max(m, l[t]);
  auto& pr = s.probs;
  pr.resize(order.size());
  double z = 0;
  for (size_t i = 0; i < order.size(); ++i) z += pr[i] = std::exp(l[order[i]] - m);
  Candidates c;
  c.kept = order.size();
  if (p.top_p < 1.0) {
    double before = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      if (i > 0 && before / z >= p.top_p) {
        c.kept = i;
        break;
      }
      before += pr[i];
    }
  }
  // min_p: p_i / p_max >= min_p, where p_max's unnormalised weight is exp(0) = 1.
  for (size_t i = 0; i < c.kept; ++i) {
    if (p.min_p > 0.0 && pr[i] < p.min_p) pr[i] = 0;
    c.zk += pr[i];
    if (pr[i] > 0) c.last = i;
  }
  return c;
}

// exp(x) for x <= 0, within 2 ulp of expf where the result is a normal float (x >= -87; below, the
// result is exp(-87) ~ 1.6e-38 instead of a denormal or 0, and -inf gives that too): the Cephes
// polynomial on x - n ln 2, scaled by 2^n through the exponent bits. No call and no branch, so
// that the compiler vectorizes a loop of it (glibc's expf is a call per element). The clamp works
// on the magnitude's bits: a float compare there (trapping math) keeps GCC from vectorizing. The
// kernels' Simd::exp_nonpositive is the same polynomial in intrinsics; the engine may not use them.
inline float exp_nonpositive(float x) {
  constexpr int32_t kLimit = std::bit_cast<int32_t>(87.0f);
  int32_t mag = std::bit_cast<int32_t>(x) & 0x7fffffff;  // |x|; a NaN is clamped too
  mag = mag < kLimit ? mag : kLimit;
  x = -std::bit_cast<float>(mag);
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23: the sum's low mantissa bits are round(x / ln 2)
  const float t = x * 1.44269504088896341f + kShift;
  const float n = t - kShift;
  const int32_t ni = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kShift);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  return e * std::bit_cast<float>((ni + 127) << 23);  // n in [-126, 0]: a normal power of two
}

}  // namespace

double log_sum_exp(std::span<const float> x) {
  if (x.empty()) return -std::numeric_limits<double>::infinity();
  // The maximum, in 8 independent lanes.
  constexpr size_t kLanes = 8;
  float mx[kLanes];
  std::fill(mx, mx + kLanes, -std::numeric_limits<float>::infinity());
  size_t i = 0;
  for (; i + kLanes <= x.size(); i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) mx[j] = x[i + j] > mx[j] ? x[i + j] : mx[j];
  float m = *std::max_element(mx, mx + kLanes);
  for (; i < x.size(); ++i) m = x[i] > m ? x[i] : m;
  if (!std::isfinite(m)) return m;  // all -inf, or an inf / NaN among the logits
  // exp(x - m) <= 1 in float, a block at a time, summed in double in 8 lanes.
  constexpr size_t kBlock = 512;
  float e[kBlock];
  double z[kLanes] = {};
  for (size_t b = 0; b < x.size(); b += kBlock) {
    const size_t n = std::min(kBlock, x.size() - b);
    for (size_t k = 0; k < n; ++k) e[k] = exp_nonpositive(x[b + k] - m);
    size_t k = 0;
    for (; k + kLanes <= n; k += kLanes)
      for (size_t j = 0; j < kLanes; ++j) z[j] += double(e[k + j]);
    for (; k < n; ++k) z[0] += double(e[k]);
  }
  double sum = 0;
  for (double v : z) sum += v;
  return double(m) + std::log(sum);
}

std::span<const float> process_logits(std::span<const float> logits, const SamplingParams& params,
                                      std::span<const int32_t> prompt, std::span<const int32_t> output,
                                      SamplerScratch& scratch) {
  scratch.logits.assign(logits.begin(), logits.end());
  apply_bias_and_penalties(scratch.logits, params, prompt, output, scratch);
  return scratch.logits;
}

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& w : s_) w = splitmix64(x);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return double(next() >> 11) * 0x1.0p-53; }

std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, int k, int32_t token, float* token_logprob) {
  const double lse = log_sum_exp(logits);
  if (token_logprob) *token_logprob = float(double(logits[size_t(token)]) - lse);
  std::vector<TokenLogprob> out;
  if (k <= 0) return out;
  k = std::min<int>(k, int(logits.size()));
  std::vector<int32_t> idx(logits.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = int32_t(i);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), ByValueDesc{logits.data()});
  for (int i = 0; i < k; ++i) out.push_back({idx[size_t(i)], float(double(logits[size_t(idx[size_t(i)])]) - lse)});
  return out;
}

SampleResult sample(std::span<const float> raw, const SamplingParams& p, std::span<const int32_t> prompt,
                    std::span<const int32_t> output, Rng& rng, SamplerScratch& s, TokenMask mask) {
  SampleResult r;
  const bool greedy = p.temperature <= 0.0;
  std::span<const float> logits = raw;
  if (needs_processing(p) || !greedy || !mask.empty()) {
    s.logits.assign(raw.begin(), raw.end());
    apply_bias_and_penalties(s.logits, p, prompt, output, s);
    logits = s.logits;
  }
  const bool want_logprobs = p.logprobs || p.top_logprobs > 0;
  if (!mask.empty()) {
    constexpr float kNone = -std::numeric_limits<float>::infinity();
    if (want_logprobs) s.masked.assign(raw.begin(), raw.end());
    for (size_t i = 0; i < s.logits.size(); ++i)
      if (!mask_allows(mask, int64_t(i))) {
        s.logits[i] = kNone;
        if (want_logprobs) s.masked[i] = kNone;
      }
    if (want_logprobs) raw = s.masked;
  }
  if (greedy) {
    r.token = first_argmax(logits);
  } else {
    const Candidates c = candidates(p, s);
    const double target = rng.uniform() * c.zk;
    double cum = 0;
    r.token = s.order[c.last];
    for (size_t i = 0; i < c.kept; ++i) {
      if (s.probs[i] <= 0) continue;
      cum += s.probs[i];
      if (target < cum) {
        r.token = s.order[i];
        break;
      }
    }
  }
  if (want_logprobs) {
    r.top = top_logprobs(raw, p.top_logprobs, r.token, &r.logprob);
    // Under a mask, fewer tokens than asked may be possible: list only those.
    std::erase_if(r.top, [](const TokenLogprob& t) { return !std::isfinite(t.logprob); });
  }
  return r;
}

void distribution(std::span<const float> raw, const SamplingParams& p, std::span<const int32_t> prompt,
                  std::span<const int32_t> output, SamplerScratch& s, std::vector<float>& probs, TokenMask mask) {
  probs.assign(raw.size(), 0.0f);
  if (raw.empty()) return;
  s.logits.assign(raw.begin(), raw.end());
  apply_bias_and_penalties(s.logits, p, prompt, output, s);
  if (!mask.empty())
    for (size_t i = 0; i < s.logits.size(); ++i)
      if (!mask_allows(mask, int64_t(i))) s.logits[i] = -std::numeric_limits<float>::infinity();
  if (p.temperature <= 0.0) {
    probs[size_t(first_argmax(s.logits))] = 1.0f;
    return;
  }
  const Candidates c = candidates(p, s);
  for (size_t i = 0; i < c.kept; ++i) probs[size_t(s.order[i])] = float(double(s.probs[i]) / c.zk);
}

void fill_logprobs(SampleResult& r, std::span<const float> raw, const SamplingParams& p, SamplerScratch& s,
                   TokenMask mask) {
  if (!p.logprobs && p.top_logprobs <= 0) return;
  if (!mask.empty()) {
    s.masked.assign(raw.begin(), raw.end());
    for (size_t i = 0; i < s.masked.size(); ++i)
      if (!mask_allows(mask, int64_t(i))) s.masked[i] = -std::numeric_limits<float>::infinity();
    raw = s.masked;
  }
  r.top = top_logprobs(raw, p.top_logprobs, r.token, &r.logprob);
  std::erase_if(r.top, [](const TokenLogprob& t) { return !std::isfinite(t.logprob); });
}

int32_t sample_from(std::span<const float> probs, Rng& rng) {
  double z = 0;
  int32_t last = 0;
  for (size_t i = 0; i < probs.size(); ++i)
    if (probs[i] > 0) z += probs[i], last = int32_t(i);
  const double target = rng.uniform() * z;
  double cum = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    cum += probs[i];
    if (target < cum) return int32_t(i);
  }
  return last;
}

}  // namespace qwen3::engine
