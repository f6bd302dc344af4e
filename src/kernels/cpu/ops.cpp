// Element-wise kernels (attention: attention.cpp). Float32 throughout; sums that decide norms are
// accumulated in double where it is cheap (once per row), float32 elsewhere.
#include <algorithm>
#include <cmath>

#include "core/parallel_for.h"
#include "kernels/cpu/isa_table.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {

void rms_norm(const float* x, int64_t n, int64_t d, const float* weight, double eps, float* y) {
  parallel_for(n, 32, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* xr = x + t * d;
      // Four partial sums, so that the additions do not wait on each other (one chain of d
      // dependent double additions was 1-1.5 % of a forward pass: a norm per layer and per head).
      double s4[4] = {0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 4 <= d; k += 4)
        for (int64_t j = 0; j < 4; ++j) s4[j] += double(xr[k + j]) * double(xr[k + j]);
      for (; k < d; ++k) s4[0] += double(xr[k]) * double(xr[k]);
      const double ss = (s4[0] + s4[1]) + (s4[2] + s4[3]);
      const float inv = float(1.0 / std::sqrt(ss / double(d) + eps));
      float* yr = y + t * d;
      for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * weight[i];
    }
  });
}

void rope_neox(float* x, int64_t n, int64_t row_stride, int64_t num_heads, int64_t head_dim, const float* cos,
               const float* sin) {
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < n; ++t) {
    const float* c = cos + t * half;
    const float* s = sin + t * half;
    for (int64_t h = 0; h < num_heads; ++h) {
      float* v = x + t * row_stride + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

void gated_act(const float* gate_up, int64_t n, int64_t d, Act act, float* out) {
  // SiLU (Qwen3's activation) in the active ISA's vectors when it has them (glibc's expf is a call
  // per element: 3-4 % of a prefill's time); the rest, and the portable ISA, below.
  const auto silu_mul = act == Act::SiLU ? cpu::active_table().silu_mul : nullptr;
  parallel_for(n, 8, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* g = gate_up + t * 2 * d;
      const float* u = g + d;
      float* o = out + t * d;
      if (silu_mul) {
        silu_mul(g, u, d, o);
        continue;
      }
      for (int64_t i = 0; i < d; ++i) {
        const float x = g[i];
        float a;
        switch (act) {
          case Act::SiLU: a = x / (1.0f + std::exp(-x)); break;
          case Act::GeluErf: a = 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2))); break;
          case Act::GeluTanh: {
            const float k = 0.7978845608028654f;  // sqrt(2 / pi)
            a = 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
            break;
          }
          case Act::ReLU: a = x > 0 ? x : 0.0f; break;
          default: a = 0;
        }
        o[i] = a * u[i];
      }
    }
  });
}

}  // namespace qwen3::kernels
