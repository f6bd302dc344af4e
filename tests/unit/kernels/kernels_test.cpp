#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

struct Mat {
  DType dt;
  int64_t rows, cols;
  std::vector<float> f;      // the exact values (after rounding to dt)
  std::vector<uint16_t> h;   // storage for bf16 / f16
  WeightView view() const { return {format_of(dt), dt == DType::F32 ? static_cast<const void*>(f.data()) : h.data(), rows, cols}; }
};

Mat random_mat(DType dt, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0, 1);
  Mat m{dt, rows, cols, std::vector<float>(size_t(rows * cols)), {}};
  if (dt != DType::F32) m.h.resize(m.f.size());
  for (size_t i = 0; i < m.f.size(); ++i) {
    float v = nd(rng);
    if (dt == DType::BF16) m.h[i] = f32_to_bf16(v), v = bf16_to_f32(m.h[i]);
    if (dt == DType::F16) m.h[i] = f32_to_f16(v), v = f16_to_f32(m.h[i]);
    m.f[i] = v;
  }
  return m;
}

// Every kernel against its scalar twin over shapes that are and are not multiples of the vector
// width. Tolerance: two float32 summations of n products each differ from the exact sum by at
// most (n - 1) u sum|x w| (u = 2^-24), so from each other by twice that.
TEST(Matmul, MatchesScalarTwin) {
  std::mt19937 rng(1);
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (auto [n, rows, cols] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 1, 1}, {1, 7, 15}, {3, 33, 16}, {4, 17, 17}, {5, 64, 100}, {9, 40, 257}, {2, 1000, 64}}) {
      Mat w = random_mat(dt, rows, cols, rng);
      Mat x = random_mat(DType::F32, n, cols, rng);
      std::vector<float> y(size_t(n * rows)), yr(size_t(n * rows));
      matmul(x.f.data(), n, w.view(), y.data());
      ref::matmul(x.f.data(), n, w.view(), yr.data());
      for (int64_t t = 0; t < n; ++t)
        for (int64_t o = 0; o < rows; ++o) {
          double mag = 0, exact = 0;
          for (int64_t i = 0; i < cols; ++i) {
            mag += std::fabs(double(x.f[size_t(t * cols + i)]) * w.f[size_t(o * cols + i)]);
            exact += double(x.f[size_t(t * cols + i)]) * w.f[size_t(o * cols + i)];
          }
          const double tol = 2.0 * double(cols) * std::ldexp(1.0, -24) * mag + 1e-30;
          EXPECT_NEAR(y[size_t(t * rows + o)], yr[size_t(t * rows + o)], tol) << dtype_name(dt) << " " << n << "x" << rows << "x" << cols;
          EXPECT_NEAR(y[size_t(t * rows + o)], exact, tol);
        }
    }
}

TEST(Matmul, RowResultsDoNotDependOnBatchSize) {
  std::mt19937 rng(2);
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    Mat w = random_mat(dt, 50, 77, rng);
    Mat x = random_mat(DType::F32, 11, 77, rng);
    std::vector<float> all(11 * 50), one(50);
    matmul(x.f.data(), 11, w.view(), all.data());
    for (int t = 0; t < 11; ++t) {
      matmul(x.f.data() + t * 77, 1, w.view(), one.data());
      for (int o = 0; o < 50; ++o) EXPECT_EQ(one[size_t(o)], all[size_t(t * 50 + o)]);  // bitwise
    }
  }
}

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
