// QualityStats (qwen3 bench --quality) against the definitions computed naively here in long
// double: p = exp(x) / sum exp(x), KL(p || q) = sum p log(p / q), perplexity = exp(mean -log p[next]).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "tools/bench_quality.h"

namespace qwen3::tools {
namespace {

std::vector<long double> softmax(const std::vector<float>& x) {
  std::vector<long double> p(x.size());
  long double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += p[i] = std::exp((long double)x[i]);
  for (auto& v : p) v /= s;
  return p;
}

TEST(QualityStats, MatchesTheDefinitions) {
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.f, 2.f);
  QualityStats st;
  long double kl_sum = 0, kl_max = 0, nll_r = 0, nll_t = 0;
  int agree = 0;
  const int rows = 20, vocab = 37;
  for (int r = 0; r < rows; ++r) {
    std::vector<float> a(vocab), b(vocab);
    for (int i = 0; i < vocab; ++i) a[size_t(i)] = n(rng), b[size_t(i)] = a[size_t(i)] + 0.3f * n(rng);
    const int32_t next = int32_t(rng() % vocab);
    st.add(a, b, next);
    const auto p = softmax(a), q = softmax(b);
    long double kl = 0;
    for (int i = 0; i < vocab; ++i) kl += p[size_t(i)] * std::log(p[size_t(i)] / q[size_t(i)]);
    kl_sum += kl;
    kl_max = std::max(kl_max, kl);
    agree += std::max_element(a.begin(), a.end()) - a.begin() == std::max_element(b.begin(), b.end()) - b.begin();
    nll_r -= std::log(p[size_t(next)]);
    nll_t -= std::log(q[size_t(next)]);
  }
  // Double accumulation over 37 terms of size <= ~10: 1e-12 relative is ample and far below the
  // size of any real difference (the KLs here are ~0.1).
  EXPECT_EQ(st.positions, rows);
  EXPECT_NEAR(st.mean_kl(), double(kl_sum / rows), 1e-12);
  EXPECT_GT(st.mean_kl(), 1e-3);
  EXPECT_NEAR(st.max_kl, double(kl_max), 1e-12);
  EXPECT_DOUBLE_EQ(st.agreement(), double(agree) / rows);
  EXPECT_LT(st.agreement(), 1.0);  // the noise is large enough to flip some argmaxes
  EXPECT_NEAR(std::log(st.ppl_ref()), double(nll_r / rows), 1e-12);
  EXPECT_NEAR(std::log(st.ppl_test()), double(nll_t / rows), 1e-12);
}

TEST(QualityStats, IdenticalRowsAndLargeLogits) {
  // Identical rows: KL exactly 0, full agreement, equal perplexities; shifting all logits by a
  // large constant (which overflows a naive exp) changes nothing.
  std::vector<float> a = {1.f, 3.f, -2.f, 0.5f}, big = a;
  for (auto& v : big) v += 1000.f;
  QualityStats same, shifted;
  same.add(a, a, 1);
  shifted.add(a, big, 2);
  EXPECT_EQ(same.mean_kl(), 0.0);
  EXPECT_EQ(same.agreement(), 1.0);
  EXPECT_EQ(same.ppl_ref(), same.ppl_test());
  EXPECT_NEAR(shifted.mean_kl(), 0.0, 1e-12);
  EXPECT_NEAR(shifted.ppl_test(), shifted.ppl_ref(), 1e-9 * shifted.ppl_ref());
  const auto p = softmax(a);
  EXPECT_NEAR(same.ppl_ref(), double(1 / p[1]), 1e-9);
}

TEST(QualityStats, Errors) {
  QualityStats st;
  std::vector<float> a(4, 0.f), b(5, 0.f);
  EXPECT_THROW(st.add(a, b, 0), Error);
  EXPECT_THROW(st.add(a, a, 4), Error);
  EXPECT_THROW(st.add(a, a, -1), Error);
  EXPECT_EQ(st.positions, 0);
}

}  // namespace
}  // namespace qwen3::tools
