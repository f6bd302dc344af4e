// The sampler against its definitions (sampler.h). Distribution checks draw N = 200000 samples:
// the standard error of a frequency is sqrt(p(1-p)/N) <= 0.0012, and the tolerance is 0.006 (5
// standard errors: a false failure has probability < 1e-6 per check, and the seeds are fixed).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/sampler.h"

namespace qwen3::engine {
namespace {

constexpr int kDraws = 200000;
constexpr double kTol = 0.006;

std::vector<double> softmax(const std::vector<float>& l, double t = 1.0) {
  double m = -1e300, z = 0;
  for (float x : l) m = std::max(m, double(x) / t);
  std::vector<double> p;
  for (float x : l) p.push_back(std::exp(double(x) / t - m)), z += p.back();
  for (auto& x : p) x /= z;
  return p;
}

std::vector<double> frequencies(const std::vector<float>& logits, const SamplingParams& p, uint64_t seed = 1) {
  Rng rng(seed);
  SamplerScratch s;
  std::vector<double> f(logits.size(), 0);
  for (int i = 0; i < kDraws; ++i) f[size_t(sample(logits, p, {}, {}, rng, s).token)] += 1.0 / kDraws;
  return f;
}

// Expected: `probs` restricted to `kept` and renormalised.
void expect_distribution(const std::vector<double>& f, const std::vector<double>& probs, const std::vector<int>& kept) {
  double z = 0;
  for (int k : kept) z += probs[size_t(k)];
  for (size_t i = 0; i < probs.size(); ++i) {
    const bool in = std::find(kept.begin(), kept.end(), int(i)) != kept.end();
    if (!in) EXPECT_EQ(f[i], 0.0) << "token " << i << " must never be drawn";
    else EXPECT_NEAR(f[i], probs[i] / z, kTol) << "token " << i;
  }
}

const std::vector<float> kLogits = {2.0f, 1.5f, 0.5f, -0.5f, -1.0f, 1.0f};

TEST(Sampler, GreedyIsFirstArgmax) {
  Rng rng(0);
  SamplerScratch s;
  SamplingParams p;
  p.temperature = 0;
  EXPECT_EQ(sample(kLogits, p, {}, {}, rng, s).token, 0);
  const std::vector<float> tie = {1.0f, 3.0f, 3.0f, 0.0f};
  EXPECT_EQ(sample(tie, p, {}, {}, rng, s).token, 1);
  p.logit_bias = {{4, 5.0f}};
  EXPECT_EQ(sample(kLogits, p, {}, {}, rng, s).token, 4);
  // An empty row is the caller's error, said as such (it indexed an empty candidate list).
  for (double t : {0.0, 1.0}) {
    p.temperature = t;
    EXPECT_THROW(sample(std::vector<float>{}, p, {}, {}, rng, s), Error);
  }
}

TEST(Sampler, TemperatureFollowsSoftmax) {
  for (double t : {1.0, 0.5, 2.0}) {
    SamplingParams p;
    p.temperature = t;
    std::vector<int> all = {0, 1, 2, 3, 4, 5};
    expect_distribution(frequencies(kLogits, p), softmax(kLogits, t), all);
  }
}

TEST(Sampler, TopKKeepsTheKMostLikely) {
  SamplingParams p;
  p.temperature = 1;
  p.top_k = 3;
  expect_distribution(frequencies(kLogits, p), softmax(kLogits), {0, 1, 5});
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  // probs 0.5, 0.3, 0.15, 0.05: mass before each 0, 0.5, 0.8, 0.95.
  const std::vector<float> l = {float(std::log(0.5)), float(std::log(0.3)), float(std::log(0.15)), float(std::log(0.05))};
  SamplingParams p;
  p.temperature = 1;
  p.top_p = 0.75;
  expect_distribution(frequencies(l, p), softmax(l), {0, 1});
  p.top_p = 0.85;
  expect_distribution(frequencies(l, p), softmax(l), {0, 1, 2});
  p.top_p = 0.4;  // the most likely token is always kept
  expect_distribution(frequencies(l, p), softmax(l), {0});
}

TEST(Sampler, MinPIsRelativeToTheMostLikely) {
  const std::vector<float> l = {float(std::log(0.5)), float(std::log(0.3)), float(std::log(0.15)), float(std::log(0.05))};
  SamplingParams p;
  p.temperature = 1;
  p.min_p = 0.2;  // keep p >= 0.1
  expect_distribution(frequencies(l, p), softmax(l), {0, 1, 2});
  p.min_p = 0.7;  // keep p >= 0.35
  expect_distribution(frequencies(l, p), softmax(l), {0});
}

TEST(Sampler, TopKThenTopPThenMinP) {
  // top_k 3 renormalises to 0.5/0.95, 0.3/0.95, 0.15/0.95 = 0.526, 0.316, 0.158; top_p 0.8 then
  // keeps two (mass before the third is 0.842); min_p 0.7 would keep only the first.
  const std::vector<float> l = {float(std::log(0.5)), float(std::log(0.3)), float(std::log(0.15)), float(std::log(0.05))};
  SamplingParams p;
  p.temperature = 1;
  p.top_k = 3;
  p.top_p = 0.8;
  expect_distribution(frequencies(l, p), softmax(l), {0, 1});
}

TEST(Sampler, PenaltiesAndBiasAsDefined) {
  const std::vector<float> l = {3.0f, -3.0f, 1.0f, 2.0f, 0.5f};
  SamplerScratch s;
  SamplingParams p;
  p.repetition_penalty = 1.5;  // tokens 0 (prompt) and 1 (output): 3 / 1.5, -3 * 1.5
  auto r = process_logits(l, p, std::vector<int32_t>{0, 0}, std::vector<int32_t>{1}, s);
  EXPECT_EQ(std::vector<float>(r.begin(), r.end()), (std::vector<float>{2.0f, -4.5f, 1.0f, 2.0f, 0.5f}));
  SamplingParams q;
  q.frequency_penalty = 0.5;
  q.presence_penalty = 0.25;  // output: token 2 three times, token 3 once; the prompt does not count
  q.logit_bias = {{4, -0.5f}};
  r = process_logits(l, q, std::vector<int32_t>{0}, std::vector<int32_t>{2, 3, 2, 2}, s);
  EXPECT_EQ(std::vector<float>(r.begin(), r.end()), (std::vector<float>{3.0f, -3.0f, 1.0f - 1.75f, 2.0f - 0.75f, 0.0f}));
  // The scratch counts are left clean: the same call again gives the same result.
  r = process_logits(l, q, std::vector<int32_t>{0}, std::vector<int32_t>{2, 3, 2, 2}, s);
  EXPECT_EQ(r[2], 1.0f - 1.75f);
  // Penalties feed greedy choice too.
  Rng rng(0);
  q.temperature = 0;
  EXPECT_EQ(sample(l, q, std::vector<int32_t>{}, std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0}, rng, s).token, 3);
}

TEST(Sampler, SeedsReproduceAndDiffer) {
  SamplingParams p;
  p.temperature = 1;
  SamplerScratch s;
  auto draw = [&](uint64_t seed) {
    Rng rng(seed);
    std::vector<int32_t> v;
    for (int i = 0; i < 64; ++i) v.push_back(sample(kLogits, p, {}, {}, rng, s).token);
    return v;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
  // The generator's stream is fixed by its definition (xoshiro256** seeded by SplitMix64).
  Rng a(0);
  EXPECT_EQ(a.next(), 0x99ec5f36cb75f2b4ULL);
}

TEST(Sampler, LogprobsAreTheModelsLogSoftmax) {
  std::vector<float> l(1000);
  for (size_t i = 0; i < l.size(); ++i) l[i] = float(std::sin(double(i) * 0.37) * 6);
  const std::vector<double> p = softmax(l);
  SamplingParams sp;
  sp.temperature = 0.7;
  sp.top_k = 5;  // sampling settings do not change the reported log-probabilities
  sp.logprobs = true;
  sp.top_logprobs = 5;
  Rng rng(3);
  SamplerScratch s;
  const SampleResult r = sample(l, sp, {}, {}, rng, s);
  // float32 logits, log-sum-exp in double: |error| < 1e-5 for values of this size.
  EXPECT_NEAR(r.logprob, std::log(p[size_t(r.token)]), 1e-5);
  ASSERT_EQ(r.top.size(), 5u);
  std::vector<int32_t> idx(l.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = int32_t(i);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return p[size_t(a)] > p[size_t(b)]; });
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r.top[size_t(i)].token, idx[size_t(i)]);
    EXPECT_NEAR(r.top[size_t(i)].logprob, std::log(p[size_t(idx[size_t(i)])]), 1e-5);
  }
  // The chosen token is among the top 5 (top_k = 5).
  EXPECT_TRUE(std::any_of(r.top.begin(), r.top.end(), [&](const TokenLogprob& t) { return t.token == r.token; }));
}

}  // namespace
// log_sum_exp against float64 (std::exp and the sum in double) on a vocabulary-sized row: normal
// logits, a wide spread (terms below exp(-87)), masked entries (-inf), and the edge cases.
TEST(Sampler, LogSumExpMatchesFloat64) {
  auto reference = [](const std::vector<float>& l) {
    double m = -INFINITY;
    for (float x : l) m = std::max(m, double(x));
    double z = 0;
    for (float x : l) z += std::exp(double(x) - m);
    return m + std::log(z);
  };
  std::vector<float> l(151936);
  uint64_t state = 7;
  auto uniform = [&] { return double((state = state * 6364136223846793005ULL + 1442695040888963407ULL) >> 11) * 0x1.0p-53; };
  for (double spread : {1.0, 8.0, 40.0, 200.0}) {
    for (float& x : l) x = float((uniform() * 2 - 1) * spread);
    EXPECT_NEAR(log_sum_exp(l), reference(l), 2e-6 * std::max(1.0, std::abs(reference(l)))) << "spread " << spread;
  }
  // Masked: a few allowed tokens among -inf (a grammar's mask), the rest ignored.
  for (float& x : l) x = -INFINITY;
  l[5] = 3.5f, l[70000] = 1.25f, l[151935] = -2.0f;
  EXPECT_NEAR(log_sum_exp(l), std::log(std::exp(3.5) + std::exp(1.25) + std::exp(-2.0)), 1e-6);
  // One element, lengths that are not a multiple of the lanes or blocks, nothing finite.
  EXPECT_NEAR(log_sum_exp(std::vector<float>{-4.0f}), -4.0, 1e-6);
  std::vector<float> odd(517);
  for (size_t i = 0; i < odd.size(); ++i) odd[i] = float(std::sin(double(i)) * 10);
  EXPECT_NEAR(log_sum_exp(odd), reference(odd), 1e-5);
  EXPECT_EQ(log_sum_exp(std::vector<float>{-INFINITY, -INFINITY}), -INFINITY);
  EXPECT_EQ(log_sum_exp(std::span<const float>()), -INFINITY);
}

// Logits the softmax cannot weigh as they are: +inf (a broken model's) takes all the mass, shared
// by ties; finite logits whose division by the temperature overflows to -inf still form a
// distribution (found by fuzz/fuzz_sampler: probabilities were 0 / 0 = NaN); NaN is never drawn.
TEST(Sampler, NonFiniteAndOverflowingLogitsStillFormADistribution) {
  SamplerScratch s;
  std::vector<float> probs;
  SamplingParams p;
  p.temperature = 0.6;
  distribution(std::vector<float>{1.0f, INFINITY, NAN, INFINITY, -INFINITY}, p, {}, {}, s, probs);
  EXPECT_EQ(probs, (std::vector<float>{0, 0.5f, 0, 0.5f, 0}));
  distribution(std::vector<float>{-3e38f, -INFINITY, -3e38f, NAN}, p, {}, {}, s, probs);
  EXPECT_EQ(probs, (std::vector<float>{0.5f, 0, 0.5f, 0}));
  p.top_p = 0.5;  // the nucleus: the first of the tied pair
  distribution(std::vector<float>{-3e38f, -INFINITY, -3e38f, NAN}, p, {}, {}, s, probs);
  EXPECT_EQ(probs, (std::vector<float>{1, 0, 0, 0}));
  Rng rng(2);
  for (int i = 0; i < 100; ++i) {
    const int32_t t = sample(std::vector<float>{NAN, -3e38f, NAN}, p, {}, {}, rng, s).token;
    EXPECT_EQ(t, 1);
  }
}

// The sampler's distribution at the vocabulary's size against a float64 reference written from its
// definition (sampler.h; the order of Hugging Face's TopK / TopP / MinP warpers): logits divided by
// the temperature (in float, as the engine and transformers do), tokens ranked by value then id,
// the top_k kept, then the fewest best tokens whose softmax mass reaches top_p, then those below
// min_p of the best removed, the rest renormalised. The kept set must be exactly the reference's
// (ties, masked -inf tokens), each probability within 1e-5 of it (relative). A top_p boundary
// closer than 1e-9 to a cumulative mass would make the set a matter of rounding: such a case is
// reported and skipped (none is expected with these rows).
TEST(Sampler, VocabularyScaleDistributionMatchesFloat64) {
  constexpr size_t V = 151936;
  uint64_t state = 11;
  auto uniform = [&] { return double((state = state * 6364136223846793005ULL + 1442695040888963407ULL) >> 11) * 0x1.0p-53; };
  auto normal = [&] { return std::sqrt(-2 * std::log(1 - uniform())) * std::cos(2 * M_PI * uniform()); };
  struct Row {
    std::string name;
    std::vector<float> l;
    bool top_p = true;  // false: equal weights put every top_p cut exactly on a cumulative mass
  };
  std::vector<Row> rows;
  for (double sigma : {2.0, 6.0}) {
    std::vector<float> l(V);
    for (float& x : l) x = float(normal() * sigma);
    rows.push_back({sigma == 2.0 ? "flat" : "peaked", l});
  }
  {
    // Ties everywhere (values in steps of 0.25, the best value shared by several ids) and masked
    // tokens (-inf), as a grammar's mask leaves them.
    std::vector<float> l(V);
    for (float& x : l) x = uniform() < 0.3 ? -INFINITY : float(std::round(normal() * 12) * 0.25);
    // and a few NaN logits (a broken checkpoint's), which rank and weigh as -inf.
    for (size_t i : {size_t(3), size_t(64), size_t(100000), V - 1}) l[i] = NAN;
    rows.push_back({"ties+masked+NaN", l});
  }
  {
    // One value for every allowed token: every cut falls inside a tie (lowest ids first).
    std::vector<float> l(V, 0.5f);
    for (size_t i = 0; i < V; i += 7) l[i] = -INFINITY;
    rows.push_back({"constant", l, false});
  }
  struct Case {
    double t;
    int64_t k;
    double top_p, min_p;
  };
  const std::vector<Case> cases = {{1, 0, 1, 0},      {0.6, 20, 0.95, 0}, {1, 0, 0.95, 0},  {0.8, 0, 0.5, 0.05},
                                   {1, 1000, 0.9, 0}, {1.3, 0, 0.999, 0}, {0.7, 0, 1, 0.2}, {1, 0, 0.3, 0},
                                   {1, 20, 1, 0},     {2, 1000, 1, 0}};
  SamplerScratch s;
  for (const Row& row : rows)
    for (const Case& c : cases) {
      if (!row.top_p && c.top_p < 1) continue;
      const std::string what = fmt::format("{} t={} k={} p={} min_p={}", row.name, c.t, c.k, c.top_p, c.min_p);
      SamplingParams p;
      p.temperature = c.t, p.top_k = c.k, p.top_p = c.top_p, p.min_p = c.min_p;
      // Reference.
      std::vector<float> scaled(V);
      const float inv_t = float(1.0 / c.t);
      for (size_t i = 0; i < V; ++i) scaled[i] = std::isnan(row.l[i]) ? -INFINITY : row.l[i] * inv_t;
      std::vector<int32_t> rank(V);
      for (size_t i = 0; i < V; ++i) rank[i] = int32_t(i);
      std::sort(rank.begin(), rank.end(), [&](int32_t a, int32_t b) {
        return scaled[size_t(a)] > scaled[size_t(b)] || (scaled[size_t(a)] == scaled[size_t(b)] && a < b);
      });
      size_t n = c.k > 0 && size_t(c.k) < V ? size_t(c.k) : V;
      const double m = scaled[size_t(rank[0])];
      std::vector<double> w(n);
      double z = 0;
      for (size_t i = 0; i < n; ++i) z += w[i] = std::exp(double(scaled[size_t(rank[i])]) - m);
      bool close = false;
      if (c.top_p < 1) {
        double before = 0;
        for (size_t i = 0; i < n; ++i) {
          if (i > 0 && std::abs(before / z - c.top_p) < 1e-9) close = true;
          if (i > 0 && before / z >= c.top_p) {
            n = i;
            break;
          }
          before += w[i];
        }
      }
      if (close) {
        ADD_FAILURE() << what << ": top_p within 1e-9 of a cumulative mass; choose another row";
        continue;
      }
      std::vector<double> expect(V, 0.0);
      double zk = 0;
      for (size_t i = 0; i < n; ++i)
        if (!(c.min_p > 0 && w[i] < c.min_p)) zk += expect[size_t(rank[i])] = w[i];
      for (double& e : expect) e /= zk;
      // The engine.
      std::vector<float> probs;
      distribution(row.l, p, {}, {}, s, probs);
      ASSERT_EQ(probs.size(), V);
      size_t kept = 0;
      for (size_t i = 0; i < V; ++i) {
        ASSERT_EQ(probs[i] > 0, expect[i] > 0) << what << " token " << i << " value " << row.l[i];
        if (expect[i] > 0) ++kept;
        ASSERT_NEAR(probs[i], expect[i], 1e-5 * expect[i] + 1e-30) << what << " token " << i;
      }
      EXPECT_GT(kept, 0u) << what;
      // Sampling draws only kept tokens (masked and cut ones never), and greedy is the first best.
      Rng rng(5);
      for (int d = 0; d < 200; ++d) {
        const int32_t tok = sample(row.l, p, {}, {}, rng, s).token;
        ASSERT_GT(expect[size_t(tok)], 0.0) << what << " drew " << tok;
      }
    }
  // Greedy and the top alternatives: the first of the tied best, in rank order.
  const std::vector<float>& l = rows[2].l;
  int32_t best = 0;
  for (size_t i = 1; i < V; ++i)
    if (l[i] > l[size_t(best)]) best = int32_t(i);
  SamplingParams g;
  g.temperature = 0;
  g.top_logprobs = 20;
  Rng rng(1);
  const SampleResult r = sample(l, g, {}, {}, rng, s);
  EXPECT_EQ(r.token, best);
  std::vector<int32_t> rank(V);
  for (size_t i = 0; i < V; ++i) rank[i] = int32_t(i);
  auto key = [&](int32_t i) { return std::isnan(l[size_t(i)]) ? -INFINITY : l[size_t(i)]; };
  std::stable_sort(rank.begin(), rank.end(), [&](int32_t a, int32_t b) { return key(a) > key(b); });
  ASSERT_EQ(r.top.size(), 20u);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(r.top[i].token, rank[i]) << i;
  // Lengths that are not a multiple of the lanes: the maximum in the last position, and ties.
  for (size_t len : {1, 7, 9, 517}) {
    std::vector<float> v(len, -1.0f);
    v[len - 1] = 2.0f;
    EXPECT_EQ(sample(v, g, {}, {}, rng, s).token, int32_t(len - 1));
    v[len / 2] = 2.0f;
    EXPECT_EQ(sample(v, g, {}, {}, rng, s).token, int32_t(len / 2));
  }
}

}  // namespace qwen3::engine
