#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

// Matmul tests: matmul_float_test.cpp (f32 / bf16 / f16).

TEST(RmsNorm, MatchesDefinition) {
  std::vector<float> x = {1, -2, 3, 0.5f, 4, 0, -1, 2}, w = {1, 0.5f, 2, 1}, y(8);
  rms_norm(x.data(), 2, 4, w.data(), 1e-6, y.data());
  for (int t = 0; t < 2; ++t) {
    double ss = 0;
    for (int i = 0; i < 4; ++i) ss += double(x[size_t(t * 4 + i)]) * x[size_t(t * 4 + i)];
    const double inv = 1 / std::sqrt(ss / 4 + 1e-6);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[size_t(t * 4 + i)], x[size_t(t * 4 + i)] * inv * w[size_t(i)], 1e-6);
  }
}

TEST(Rope, RotatesHalvesByTheAngle) {
  // One head of dim 4: pairs (0, 2) and (1, 3) rotate by angles a0, a1.
  std::vector<float> x = {1, 2, 3, 4};
  const double a0 = 0.3, a1 = 1.1;
  std::vector<float> c = {float(std::cos(a0)), float(std::cos(a1))}, s = {float(std::sin(a0)), float(std::sin(a1))};
  rope_neox(x.data(), 1, 4, 1, 4, c.data(), s.data());
  EXPECT_NEAR(x[0], 1 * std::cos(a0) - 3 * std::sin(a0), 1e-6);
  EXPECT_NEAR(x[2], 3 * std::cos(a0) + 1 * std::sin(a0), 1e-6);
  EXPECT_NEAR(x[1], 2 * std::cos(a1) - 4 * std::sin(a1), 1e-6);
  EXPECT_NEAR(x[3], 4 * std::cos(a1) + 2 * std::sin(a1), 1e-6);
}

TEST(GatedAct, AllActivations) {
  std::vector<float> gu = {-1.5f, 0.7f, 2.0f, 3.0f}, out(2);  // gate {-1.5, 0.7}, up {2, 3}
  auto check = [&](Act a, auto f) {
    gated_act(gu.data(), 1, 2, a, out.data());
    EXPECT_NEAR(out[0], f(-1.5) * 2.0, 1e-6);
    EXPECT_NEAR(out[1], f(0.7) * 3.0, 1e-6);
  };
  check(Act::SiLU, [](double v) { return v / (1 + std::exp(-v)); });
  check(Act::GeluErf, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  check(Act::GeluTanh, [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); });
  check(Act::ReLU, [](double v) { return v > 0 ? v : 0; });
}

}  // namespace
}  // namespace qwen3::kernels
