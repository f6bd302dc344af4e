// Speculative verification is lossless: the tokens it emits are distributed as the target's own
// samples. A small "model" (next-token logits a fixed function of the previous token, vocabulary
// of 5) generates 3 tokens at a time by repeated speculative steps (draft k = 2 from a different
// draft table, then verify_draft), 40,000 times per case; the frequencies of the 125 possible
// 3-token outputs are compared with the exact target probabilities (products of distribution()'s
// conditionals, penalties over the growing history included) by a chi-square test at p = 1e-6.
// A negative control shows the test has the power to fail: the draft's own samples are rejected.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <map>

#include "engine/spec/verify.h"

namespace qwen3::engine {
namespace {

constexpr int V = 5;
constexpr int L = 3;  // tokens per sample
constexpr int N = 40000;

using Table = std::array<std::array<float, V>, V>;  // [previous token] -> next-token logits
const Table kTarget = {{{2.0f, 1.0f, 0.5f, -1.0f, 0.0f},
                        {0.0f, 1.5f, 1.4f, 0.2f, -0.5f},
                        {1.0f, -1.0f, 0.0f, 2.0f, 0.5f},
                        {0.3f, 0.3f, 0.3f, 0.3f, 1.2f},
                        {-2.0f, 0.0f, 1.0f, 0.5f, 0.9f}}};
const Table kDraft = {{{1.0f, 2.0f, 0.0f, 0.0f, 0.0f},
                       {0.0f, 0.5f, 2.0f, 0.2f, 0.5f},
                       {1.0f, 0.0f, 0.0f, 1.0f, 1.5f},
                       {0.0f, 0.3f, 1.3f, 0.3f, 0.2f},
                       {-1.0f, 0.0f, 2.0f, 0.5f, 0.0f}}};
const std::vector<int32_t> kPrompt = {3, 0};

std::span<const float> row(const Table& t, int32_t prev) { return {t[size_t(prev)].data(), size_t(V)}; }

enum class Proposal { DraftModel, PointGuess };

// One 3-token output by speculative steps; `draft_only` returns the draft's own samples instead.
std::vector<int32_t> generate(const SamplingParams& p, Proposal how, Rng& rng, Rng& draft_rng, VerifyScratch& vs,
                              SamplerScratch& ds, bool draft_only = false) {
  std::vector<int32_t> out;
  std::vector<float> q;
  while (int(out.size()) < L) {
    // k = 2, but never past the last token wanted (as the engine caps drafts at max_tokens).
    const int k = draft_only ? 2 : std::min(2, L - int(out.size()) - 1);
    Draft d;
    std::vector<int32_t> hist = out;
    int32_t prev = out.empty() ? kPrompt.back() : out.back();
    for (int i = 0; i < k; ++i) {
      if (how == Proposal::DraftModel) {
        distribution(row(kDraft, prev), p, kPrompt, hist, ds, q);
        const int32_t x = sample_from(q, draft_rng);
        d.tokens.push_back(x);
        if (p.temperature > 0) d.q.push_back(q);
      } else {
        d.tokens.push_back((prev + 1) % V);  // an arbitrary guess, right now and then
      }
      prev = d.tokens.back();
      hist.push_back(prev);
    }
    if (draft_only) {
      for (int32_t t : d.tokens) out.push_back(t);
      continue;
    }
    // The target's rows: after the last emitted token, then after each drafted token.
    std::vector<std::span<const float>> rows;
    rows.push_back(row(kTarget, out.empty() ? kPrompt.back() : out.back()));
    for (int32_t t : d.tokens) rows.push_back(row(kTarget, t));
    for (const SampleResult& r : verify_draft(rows, d, p, kPrompt, out, rng, vs)) out.push_back(r.token);
  }
  out.resize(L);
  return out;
}

// Exact probability of each 3-token output under the target alone.
std::map<std::vector<int32_t>, double> exact(const SamplingParams& p) {
  std::map<std::vector<int32_t>, double> m;
  SamplerScratch s;
  std::vector<float> pr;
  for (int a = 0; a < V; ++a)
    for (int b = 0; b < V; ++b)
      for (int c = 0; c < V; ++c) {
        double prob = 1;
        std::vector<int32_t> hist;
        int32_t prev = kPrompt.back();
        for (int32_t t : {a, b, c}) {
          distribution(row(kTarget, prev), p, kPrompt, hist, s, pr);
          prob *= pr[size_t(t)];
          hist.push_back(t);
          prev = t;
        }
        m[{a, b, c}] = prob;
      }
  return m;
}

// Chi-square statistic (cells with expected count < 5 pooled) and the bound at p = 1e-6
// (Wilson-Hilferty: df * (1 - 2/(9 df) + z sqrt(2/(9 df)))^3, z = 4.753).
struct Chi2 {
  double stat = 0, bound = 0;
  int df = 0;
  bool impossible = false;  // a sample the target gives probability 0
};
Chi2 chi2(const std::map<std::vector<int32_t>, int>& counts, const std::map<std::vector<int32_t>, double>& p) {
  Chi2 r;
  double pooled_e = 0, pooled_o = 0;
  int cells = 0;
  for (auto& [seq, prob] : p) {
    auto it = counts.find(seq);
    const double o = it == counts.end() ? 0 : it->second, e = prob * N;
    if (prob == 0 && o > 0) r.impossible = true;
    if (prob == 0) continue;
    if (e < 5) {
      pooled_e += e, pooled_o += o;
      continue;
    }
    r.stat += (o - e) * (o - e) / e;
    ++cells;
  }
  if (pooled_e > 0) r.stat += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e, ++cells;
  r.df = std::max(1, cells - 1);
  const double d = r.df, z = 4.753;
  r.bound = d * std::pow(1 - 2 / (9 * d) + z * std::sqrt(2 / (9 * d)), 3);
  return r;
}

Chi2 run_case(const SamplingParams& p, Proposal how, bool draft_only = false) {
  Rng rng(12345), draft_rng(777);
  VerifyScratch vs;
  SamplerScratch ds;
  std::map<std::vector<int32_t>, int> counts;
  for (int i = 0; i < N; ++i) ++counts[generate(p, how, rng, draft_rng, vs, ds, draft_only)];
  return chi2(counts, exact(p));
}

SamplingParams params(double temperature) {
  SamplingParams p;
  p.temperature = temperature;
  return p;
}

void expect_lossless(const SamplingParams& p, Proposal how) {
  const Chi2 c = run_case(p, how);
  EXPECT_FALSE(c.impossible) << "emitted an output the target never produces";
  EXPECT_LT(c.stat, c.bound) << "chi-square " << c.stat << " on " << c.df << " degrees of freedom";
}

TEST(SpecVerify, RejectionSamplingKeepsTheTargetDistribution) { expect_lossless(params(1.0), Proposal::DraftModel); }

TEST(SpecVerify, LowTemperatureAndTopK) {
  SamplingParams p = params(0.7);
  p.top_k = 3;
  expect_lossless(p, Proposal::DraftModel);
}

TEST(SpecVerify, TopPAndMinP) {
  SamplingParams p = params(1.3);
  p.top_p = 0.8;
  p.min_p = 0.1;
  expect_lossless(p, Proposal::DraftModel);
}

TEST(SpecVerify, PenaltiesAndBiasSeeTheAcceptedDrafts) {
  SamplingParams p = params(1.0);
  p.repetition_penalty = 1.5;
  p.presence_penalty = 0.5;
  p.frequency_penalty = 0.4;
  p.logit_bias = {{2, 0.7f}};
  expect_lossless(p, Proposal::DraftModel);
}

TEST(SpecVerify, PointGuessesAcceptOnlyWhatTheTargetSamples) {
  SamplingParams p = params(1.0);
  p.top_k = 4;
  p.repetition_penalty = 1.2;
  expect_lossless(p, Proposal::PointGuess);
}

TEST(SpecVerify, TheTestCanFail) {
  // The draft's own samples differ from the target's: the same test must reject them.
  const Chi2 c = run_case(params(1.0), Proposal::DraftModel, /*draft_only=*/true);
  EXPECT_GT(c.stat, 10 * c.bound) << "chi-square " << c.stat;
}

TEST(SpecVerify, PointGuessesEqualPlainSamplingBitForBit) {
  // With point guesses every emitted token is the plain sampler's draw from the same generator,
  // so a seeded sequence is the one decoding without speculation gives.
  SamplingParams p = params(0.9);
  p.top_p = 0.9;
  Rng a(99), b(99), unused(1);
  VerifyScratch vs;
  SamplerScratch ss, ds;
  std::vector<int32_t> spec, plain;
  while (spec.size() < 200) {
    for (int32_t t : generate(p, Proposal::PointGuess, a, unused, vs, ds)) spec.push_back(t);
  }
  spec.resize(200);
  // Plain decoding: one sample per token; generate() restarts from the prompt every 3 tokens.
  while (plain.size() < 200) {
    std::vector<int32_t> out;
    for (int i = 0; i < L; ++i)
      out.push_back(sample(row(kTarget, out.empty() ? kPrompt.back() : out.back()), p, kPrompt, out, b, ss).token);
    plain.insert(plain.end(), out.begin(), out.end());
  }
  plain.resize(200);
  EXPECT_EQ(spec, plain);
}

TEST(SpecVerify, GreedyAcceptsTheLongestAgreeingPrefix) {
  const SamplingParams p = params(0.0);
  Rng rng(1);
  VerifyScratch vs;
  // Target argmax after 0 is 0, after 0 again 0: draft {0, 1} keeps 0, then emits 0 instead of 1.
  Draft d;
  d.tokens = {0, 1};
  std::vector<std::span<const float>> rows = {row(kTarget, 0), row(kTarget, 0), row(kTarget, 1)};
  auto r = verify_draft(rows, d, p, kPrompt, {}, rng, vs);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].token, 0);
  EXPECT_EQ(r[1].token, 0);
  // Everything accepted: one more token from the last row (argmax after 1 is 1).
  d.tokens = {0, 0};
  rows = {row(kTarget, 0), row(kTarget, 0), row(kTarget, 1)};
  r = verify_draft(rows, d, p, kPrompt, {}, rng, vs);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[2].token, 1);
  // Wrong shapes are errors, not crashes.
  rows.pop_back();
  EXPECT_THROW(verify_draft(rows, d, p, kPrompt, {}, rng, vs), Error);
}

}  // namespace
}  // namespace qwen3::engine
