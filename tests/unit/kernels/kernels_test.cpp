// The element-wise kernels (rms_norm, rope_neox, gated_act) against float64 twins written here from
// Hugging Face's definitions (transformers' modeling_qwen3.py), over random shapes, on every
// instruction set this CPU runs. Tolerances are derived from the magnitudes of each result and the
// float32 unit roundoff u = 2^-24 (standard model: each float operation is exact, then rounded).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

const double kU = std::ldexp(1.0, -24);  // float32 unit roundoff

// Runs fn once per instruction set this CPU supports, also with 1 and 2 threads; restores both.
template <typename Fn>
void each_isa(Fn&& fn) {
  const Isa saved_isa = active_isa();
  const int saved_threads = num_threads();
  for (Isa i : {Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (!isa_supported(i)) continue;
    set_active_isa(i);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      SCOPED_TRACE(fmt::format("{}, {} thread(s)", isa_name(i), threads));
      fn();
    }
  }
  set_active_isa(saved_isa);
  set_num_threads(saved_threads);
}

std::vector<float> normal(size_t n, float stddev, std::mt19937& rng) {
  std::normal_distribution<float> nd(0, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// --- RMSNorm. Qwen3RMSNorm: x * rsqrt(mean(x²) + eps) * weight. ---
// The kernel sums squares in double (its rows' relative error ~d·2^-53, negligible), rounds the
// inverse root to float once (u) and multiplies twice in float (u each): |y - exact| ≤ 3u·|exact|
// to first order; we allow 4u. (Hugging Face's float32 mean would allow ~d/2·u more; the kernel
// promises better, and is held to it.)
TEST(RmsNorm, MatchesFloat64TwinOverRandomShapes) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1},   {1, 7},    {2, 4},     {3, 64},   {5, 127},
                                                           {17, 128}, {33, 1024}, {2, 2049}, {70, 96}, {1, 5120}};
  each_isa([&] {
    std::mt19937 rng(11);
    for (auto [n, d] : shapes)
      for (double eps : {1e-6, 1e-5})
        for (float scale : {1e-3f, 1.0f, 30.0f}) {
          const auto x = normal(size_t(n * d), scale, rng), w = normal(size_t(d), 1.0f, rng);
          std::vector<float> y(x.size()), inplace = x;
          rms_norm(x.data(), n, d, w.data(), eps, y.data());
          rms_norm(inplace.data(), n, d, w.data(), eps, inplace.data());  // y may alias x
          for (int64_t t = 0; t < n; ++t) {
            double ss = 0;
            for (int64_t i = 0; i < d; ++i) ss += double(x[size_t(t * d + i)]) * x[size_t(t * d + i)];
            const double inv = 1.0 / std::sqrt(ss / double(d) + eps);
            for (int64_t i = 0; i < d; ++i) {
              const size_t k = size_t(t * d + i);
              const double exact = double(x[k]) * inv * w[size_t(i)];
              const double tol = 4 * kU * std::fabs(exact) + 1e-38;
              ASSERT_NEAR(y[k], exact, tol) << fmt::format("n={} d={} eps={} scale={} t={} i={}", n, d, eps, scale, t, i);
              ASSERT_EQ(inplace[k], y[k]) << "in place differs, n=" << n << " d=" << d;
            }
          }
        }
  });
}

// --- RoPE, rotate-half: q·cos + rotate_half(q)·sin with rotate_half(q) = cat(-q2, q1), cos and sin
// of pos · inv_freq, inv_freq[i] = 1 / theta^(2i / head_dim), each frequency used for both halves. ---
// The tables are float32 (as the model makes them: cos and sin of a double angle, rounded once). An
// output a·c - b·s then carries the table roundings (u·|a c|, u·|b s|), the two products' (the
// same again) and the sum's (u·(|a c| + |b s|)): |error| ≤ 3u·(|a c| + |b s|); we allow 4u.
TEST(Rope, MatchesFloat64TwinOverHeadsPositionsAndThetas) {
  struct Case {
    int64_t n, num_heads, head_dim, row_pad;  // row_pad: row_stride - num_heads * head_dim (left untouched)
    double theta;
    int64_t pos0;  // positions pos0, pos0 + 7, pos0 + 14, ...
  };
  const std::vector<Case> cases = {
      {1, 1, 2, 0, 10000, 0},          {3, 2, 64, 0, 10000, 5},      {9, 4, 128, 0, 1000000, 0},
      {4, 3, 128, 256, 1000000, 40000}, {5, 2, 96, 7, 500000, 123},   {6, 3, 34, 0, 10000, 1},  // half = 17: odd
      {2, 1, 80, 3, 1e6, 131000},      {64, 2, 64, 64, 1e6, 0},      {7, 5, 258, 0, 10000, 999}};
  each_isa([&] {
    std::mt19937 rng(12);
    for (const Case& c : cases) {
      const int64_t half = c.head_dim / 2, stride = c.num_heads * c.head_dim + c.row_pad;
      std::vector<double> inv_freq(static_cast<size_t>(half));
      for (int64_t i = 0; i < half; ++i) inv_freq[size_t(i)] = 1.0 / std::pow(c.theta, double(2 * i) / double(c.head_dim));
      std::vector<float> cos(static_cast<size_t>(c.n * half)), sin(cos.size());
      std::vector<double> ang(cos.size());
      for (int64_t t = 0; t < c.n; ++t)
        for (int64_t i = 0; i < half; ++i) {
          const size_t k = size_t(t * half + i);
          ang[k] = double(c.pos0 + 7 * t) * inv_freq[size_t(i)];
          cos[k] = float(std::cos(ang[k])), sin[k] = float(std::sin(ang[k]));
        }
      const auto x = normal(size_t(c.n * stride), 2.0f, rng);
      auto y = x;
      rope_neox(y.data(), c.n, stride, c.num_heads, c.head_dim, cos.data(), sin.data());
      for (int64_t t = 0; t < c.n; ++t) {
        for (int64_t h = 0; h < c.num_heads; ++h)
          for (int64_t i = 0; i < c.head_dim; ++i) {
            const int64_t j = i % half;  // the frequency; the partner is i ± half
            const size_t base = size_t(t * stride + h * c.head_dim);
            const double q = x[base + size_t(i)], partner = x[base + size_t(i < half ? i + half : i - half)];
            const double rotated = i < half ? -partner : partner;  // rotate_half(q)[i]
            const double co = std::cos(ang[size_t(t * half + j)]), si = std::sin(ang[size_t(t * half + j)]);
            const double exact = q * co + rotated * si;
            const double tol = 4 * kU * (std::fabs(q * co) + std::fabs(rotated * si)) + 1e-38;
            ASSERT_NEAR(y[base + size_t(i)], exact, tol)
                << fmt::format("n={} heads={} head_dim={} theta={} pos={} h={} i={}", c.n, c.num_heads, c.head_dim,
                               c.theta, c.pos0 + 7 * t, h, i);
          }
        for (int64_t i = c.num_heads * c.head_dim; i < stride; ++i)
          ASSERT_EQ(y[size_t(t * stride + i)], x[size_t(t * stride + i)]) << "past the heads, t=" << t;
      }
    }
  });
}

// --- Gated activation: act(gate) · up, gate_up = [gate | up] per row (Qwen3MLP with a fused
// gate_up_proj: down_proj(act_fn(gate_proj(x)) * up_proj(x)), act_fn = SiLU for Qwen3). ---
double act_exact(Act a, double x) {
  switch (a) {
    case Act::SiLU: return x / (1 + std::exp(-x));
    case Act::GeluErf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Act::GeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Act::ReLU: return x > 0 ? x : 0;
  }
  return NAN;
}

// SiLU: x / (1 + e^-x) in float is all products and quotients of positive terms: expf (≤ 2u
// relative, glibc's < 1 ulp), the sum 1 + e (≤ 3u), the quotient and the product by up (u each):
// ≤ 5u·|exact|; we allow 6u. The SIMD kernels (activation_simd.inc) compute (max(x, 0) +
// min(x, 0)·e) / (1 + e) with e = e^-|x| from their polynomial: 3.66u at worst over 4M points of
// [-100, 100] (2.92u for the portable loop). Past x = -ln(FLT_MAX) e^-x overflows to inf and the result to 0, an
// error below |x·up| / FLT_MAX. The GELUs compute 0.5·x·(1 + f) with |f| ≤ 1, where 1 + f cancels for
// negative x: its absolute error is a few u (f's argument rounded, f itself ≤ 2u, the sum u), so
// the bound is absolute in |x·up|: 8u·|x·up|. ReLU is exact but for the product by up (u).
double act_tolerance(Act a, double x, double up, double exact) {
  switch (a) {
    case Act::SiLU: return 6 * kU * std::fabs(exact) + std::fabs(x * up) / FLT_MAX + 1e-38;
    case Act::GeluErf:
    case Act::GeluTanh: return 8 * kU * std::fabs(x * up) + 1e-38;
    case Act::ReLU: return kU * std::fabs(exact);
  }
  return 0;
}

TEST(GatedAct, MatchesFloat64TwinOverRandomShapes) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {1, 3}, {2, 17}, {9, 64}, {5, 160}, {33, 3072}, {3, 1001}};
  each_isa([&] {
    std::mt19937 rng(13);
    for (Act a : {Act::SiLU, Act::GeluErf, Act::GeluTanh, Act::ReLU})
      for (auto [n, d] : shapes)
        for (float scale : {0.5f, 3.0f, 40.0f}) {  // 40: the exponentials saturate
          const auto gate_up = normal(size_t(n * 2 * d), scale, rng);
          std::vector<float> out(size_t(n * d));
          gated_act(gate_up.data(), n, d, a, out.data());
          for (int64_t t = 0; t < n; ++t)
            for (int64_t i = 0; i < d; ++i) {
              const double g = gate_up[size_t(t * 2 * d + i)], up = gate_up[size_t(t * 2 * d + d + i)];
              const double exact = act_exact(a, g) * up;
              ASSERT_NEAR(out[size_t(t * d + i)], exact, act_tolerance(a, g, up, exact))
                  << fmt::format("act={} n={} d={} scale={} gate={} up={}", int(a), n, d, scale, g, up);
            }
        }
  });
}

}  // namespace
}  // namespace qwen3::kernels
