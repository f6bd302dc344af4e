#include "engine/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace qwen3::engine {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Higher value first, then smaller id: a total order, so selection and sorting are deterministic
// (a NaN logit ranks as -inf: sorting with a NaN compared as such would be undefined).
struct ByValueDesc {
  const float* v;
  static float key(float x) { return x == x ? x : -std::numeric_limits<float>::infinity(); }
  bool operator()(int32_t a, int32_t b) const {
    const float x = key(v[a]), y = key(v[b]);
    return x > y || (x == y && a < b);
  }
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


// exp(x) for x <= 0 as above, but exactly 0 where x < -87 (a -inf logit, masked by a grammar or a
// bias, must weigh nothing: no fallback may pick it). Branch-free on the bits, so it vectorizes.
inline float weight_of(float x) {
  constexpr int32_t kLimit = std::bit_cast<int32_t>(87.0f);
  const int32_t mag = std::bit_cast<int32_t>(x) & 0x7fffffff;
  const int32_t keep = -int32_t(mag <= kLimit);  // all ones, or 0 (also for a NaN)
  return std::bit_cast<float>(std::bit_cast<int32_t>(exp_nonpositive(x)) & keep);
}

// x / temperature (x * inv_t) as a logit the softmax can weigh: a NaN becomes -inf (never drawn);
// +inf (a broken model's, or a large logit over a small temperature) the largest float, so that
// such tokens share the mass instead of making every weight exp(inf - inf) = NaN; a finite logit
// that overflows to -inf the lowest float, so that a row of them still has a weight (only a -inf
// logit, a masked token, stays -inf). On the bits, so the loop vectorizes.
inline float scaled_logit(float x, float inv_t) {
  constexpr int32_t kNegInf = int32_t(0xff800000u), kPosInf = 0x7f800000, kMax = 0x7f7fffff;
  const int32_t bx = std::bit_cast<int32_t>(x);
  int32_t b = std::bit_cast<int32_t>(x * inv_t);
  const int32_t nan = -int32_t((bx & 0x7fffffff) > kPosInf), pinf = -int32_t(b == kPosInf),
                under = -int32_t(b == kNegInf && bx != kNegInf);
  b = (b & ~pinf) | (kMax & pinf);
  b = (b & ~under) | ((kMax | int32_t(0x80000000u)) & under);
  b = (b & ~nan) | (kNegInf & nan);
  return std::bit_cast<float>(b);
}

// The largest value, in 8 independent lanes (vectorized; a NaN never wins); -inf when empty.
float max_value(const float* x, size_t n) {
  constexpr size_t kLanes = 8;
  float mx[kLanes];
  std::fill(mx, mx + kLanes, -std::numeric_limits<float>::infinity());
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) mx[j] = x[i + j] > mx[j] ? x[i + j] : mx[j];
  float m = *std::max_element(mx, mx + kLanes);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// The first index of the largest value (greedy decoding): the maximum in lanes, then a scan for
// its first occurrence. 0 when every value is NaN.
int32_t first_argmax(std::span<const float> v) {
  const float m = max_value(v.data(), v.size());
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == m) return int32_t(i);
  return 0;
}

// The k (0 < k < V) best tokens of l by ByValueDesc, best first: the set and the order of
// nth_element + sort, found with a heap of the k best so far (its front the worst of them). Tokens
// come in id order, so a later token displaces the front only with a strictly larger value, and
// blocks of 64 whose largest value does not exceed the front's are skipped whole (the maximum
// vectorizes): for a vocabulary of 151,936 and k = 20, a pass of comparisons and a few hundred
// heap replacements instead of an introselect over every id.
void top_k_sorted(const float* l, int32_t V, int32_t k, std::vector<int32_t>& out) {
  const ByValueDesc better{l};
  out.clear();
  for (int32_t i = 0; i < k; ++i) {
    out.push_back(i);
    std::push_heap(out.begin(), out.end(), better);
  }
  constexpr int32_t kBlock = 64;
  int32_t i = k;
  auto worst = [&] { return ByValueDesc::key(l[out.front()]); };  // a NaN among the first k: -inf
  auto consider = [&](int32_t t) {
    if (l[t] > worst()) {
      std::pop_heap(out.begin(), out.end(), better);
      out.back() = t;
      std::push_heap(out.begin(), out.end(), better);
    }
  };
  for (; i < V && i % kBlock != 0; ++i) consider(i);
  for (; i + kBlock <= V; i += kBlock) {
    if (!(max_value(l + i, kBlock) > worst())) continue;
    for (int32_t t = i; t < i + kBlock; ++t) consider(t);
  }
  for (; i < V; ++i) consider(i);
  std::sort(out.begin(), out.end(), better);
}

// Step 4 on s.logits (bias and penalties applied): divides by the temperature, then leaves in
// s.order the candidate tokens and in s.probs their unnormalised weights exp(l - max), zero where
// min_p removed them; the first `kept` candidates survive top_k / top_p, they weigh zk in all, and
// `last` is the last with a weight > 0. Candidates are in the order of ByValueDesc when top_k is
// set; otherwise in id order, except under top_p the tokens of the value bucket where the nucleus
// ends, which come last and sorted (the order only decides which token a given random number
// draws, not the distribution).
struct Candidates {
  size_t kept = 0, last = 0;
  double zk = 0;
};
constexpr size_t kDrawBlock = 256;  // candidates per block sum (SamplerScratch::block_sums)

// top_p without top_k: the nucleus (the fewest tokens, best first, whose weights reach top_p of
// the total) without sorting the vocabulary. Tokens are put into 2,048 buckets by m - l (1/64 nat
// wide, the last holding everything 32 nats or more below the maximum), which order them as the
// sort would between buckets; the buckets' weights are summed in order until they reach top_p, and
// only the tokens of the bucket where that happens are sorted and taken one by one, as the full
// sort would take them. The running mass is summed bucket by bucket rather than token by token in
// sorted order, so the boundary may move only where it sits within double rounding (1e-16) of
// top_p. Leaves s.order / s.probs as the kept candidates.
void nucleus(const float* l, int32_t V, float m, double top_p, SamplerScratch& s) {
  constexpr int kBuckets = 2048;
  constexpr float kPerNat = 64.0f;
  auto& w = s.weights;
  w.resize(size_t(V));
  for (int32_t i = 0; i < V; ++i) w[size_t(i)] = weight_of(l[i] - m);
  auto& bucket = s.buckets;
  bucket.resize(size_t(V));
  double mass[kBuckets] = {};
  int32_t count[kBuckets] = {};
  for (int32_t i = 0; i < V; ++i) {
    const float d = (m - l[i]) * kPerNat;  // >= 0; +inf for a -inf logit, NaN for a NaN
    const int b = d < float(kBuckets - 1) ? int(d) : kBuckets - 1;
    bucket[size_t(i)] = uint16_t(b);
    mass[b] += double(w[size_t(i)]);
    ++count[b];
  }
  double z = 0;
  for (double v : mass) z += v;
  double before = 0;
  int edge = kBuckets - 1;
  for (int b = 0; b < kBuckets; ++b) {
    if ((before + mass[b]) / z >= top_p) {
      edge = b;
      break;
    }
    before += mass[b];
  }
  auto& order = s.order;
  order.clear();
  for (int32_t i = 0; i < V; ++i)
    if (bucket[size_t(i)] < edge) order.push_back(i);
  // The edge bucket and, should rounding leave the mass short of top_p there, the ones after it.
  std::vector<int32_t>& tail = s.tail;
  const ByValueDesc better{l};
  for (int b = edge; b < kBuckets; ++b) {
    if (count[b] == 0) continue;  // (a pass over the vocabulary per bucket taken)
    tail.clear();
    for (int32_t i = 0; i < V; ++i)
      if (bucket[size_t(i)] == b) tail.push_back(i);
    std::sort(tail.begin(), tail.end(), better);
    for (int32_t t : tail) {
      if (!order.empty() && before / z >= top_p) break;
      order.push_back(t);
      before += double(w[size_t(t)]);
    }
    if (!order.empty() && before / z >= top_p) break;
  }
  auto& pr = s.probs;
  pr.resize(order.size());
  for (size_t j = 0; j < order.size(); ++j) pr[j] = w[size_t(order[j])];
}

Candidates candidates(const SamplingParams& p, SamplerScratch& s) {
  const int32_t V = int32_t(s.logits.size());
  float* l = s.logits.data();
  const float inv_t = float(1.0 / p.temperature);
  for (int32_t i = 0; i < V; ++i) l[i] = scaled_logit(l[i], inv_t);
  auto& order = s.order;
  auto& pr = s.probs;
  Candidates c;
  if (p.top_k > 0 && p.top_k < V) {
    // The top_k, sorted (the first is the maximum); then top_p over them in that order.
    top_k_sorted(l, V, int32_t(p.top_k), order);
    const float m = l[order[0]];
    pr.resize(order.size());
    double z = 0;
    for (size_t i = 0; i < order.size(); ++i) z += pr[i] = weight_of(l[order[i]] - m);
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
  } else if (p.top_p < 1.0) {
    nucleus(l, V, max_value(l, size_t(V)), p.top_p, s);
    c.kept = order.size();
  } else {
    // Every token, in id order.
    const float m = max_value(l, size_t(V));
    order.resize(size_t(V));
    pr.resize(size_t(V));
    for (int32_t i = 0; i < V; ++i) order[size_t(i)] = i;
    for (int32_t i = 0; i < V; ++i) pr[size_t(i)] = weight_of(l[i] - m);
    c.kept = size_t(V);
  }
  // min_p: p_i / p_max >= min_p, where p_max's unnormalised weight is exp(0) = 1.
  if (p.min_p > 0.0)
    for (size_t i = 0; i < c.kept; ++i)
      if (pr[i] < p.min_p) pr[i] = 0;
  // zk, and the sum of each block of kDrawBlock candidates (8 lanes each) for the draw.
  auto& bs = s.block_sums;
  bs.clear();
  for (size_t b0 = 0; b0 < c.kept; b0 += kDrawBlock) {
    const size_t b1 = std::min(c.kept, b0 + kDrawBlock);
    double lanes[8] = {};
    size_t i = b0;
    for (; i + 8 <= b1; i += 8)
      for (size_t j = 0; j < 8; ++j) lanes[j] += double(pr[i + j]);
    for (; i < b1; ++i) lanes[0] += double(pr[i]);
    double sum = 0;
    for (double v : lanes) sum += v;
    bs.push_back(sum);
    c.zk += sum;
  }
  for (size_t i = c.kept; i-- > 0;)
    if (pr[i] > 0) {
      c.last = i;
      break;
    }
  return c;
}

// The candidate that u in [0, 1) draws: the first whose running weight exceeds u zk, found block
// by block through the block sums, then token by token inside the block (the running sum restarts
// from the blocks' sums at each block, so rounding never carries the draw past the mass it meant).
// order[last] when rounding leaves u zk beyond every running sum.
int32_t draw(const Candidates& c, const SamplerScratch& s, double u) {
  const double target = u * c.zk;
  double cum = 0;
  for (size_t b = 0; b < s.block_sums.size(); ++b) {
    const double next = cum + s.block_sums[b];
    if (target < next) {
      const size_t b0 = b * kDrawBlock, b1 = std::min(c.kept, b0 + kDrawBlock);
      double run = cum;
      for (size_t i = b0; i < b1; ++i) {
        if (s.probs[i] <= 0) continue;
        run += double(s.probs[i]);
        if (target < run) return s.order[i];
      }
    }
    cum = next;
  }
  return s.order[c.last];
}

}  // namespace

double log_sum_exp(std::span<const float> x) {
  if (x.empty()) return -std::numeric_limits<double>::infinity();
  constexpr size_t kLanes = 8;
  const float m = max_value(x.data(), x.size());
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
  std::vector<int32_t> idx;
  if (size_t(k) < logits.size()) {
    top_k_sorted(logits.data(), int32_t(logits.size()), k, idx);
  } else {
    idx.resize(logits.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = int32_t(i);
    std::sort(idx.begin(), idx.end(), ByValueDesc{logits.data()});
  }
  for (int i = 0; i < k; ++i) out.push_back({idx[size_t(i)], float(double(logits[size_t(idx[size_t(i)])]) - lse)});
  return out;
}

SampleResult sample(std::span<const float> raw, const SamplingParams& p, std::span<const int32_t> prompt,
                    std::span<const int32_t> output, Rng& rng, SamplerScratch& s, TokenMask mask) {
  if (raw.empty()) fail("sample: the row of logits is empty");
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
    r.token = draw(c, s, rng.uniform());
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
