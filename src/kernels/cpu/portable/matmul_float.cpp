// Portable matmul for f32 / bf16 / f16 weights: C++ written so that the compiler vectorises it for
// the baseline x86-64 (16 independent partial sums per token, fixed reduction order).
#include "core/dtype.h"
#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int kLanes = 16;   // partial sums per token row
constexpr int kMaxTok = 4;   // token rows sharing one pass over a weight row

template <typename T>
inline float to_f32(T v);
template <>
inline float to_f32<float>(float v) { return v; }

struct Bf16 { uint16_t bits; };
struct F16 { uint16_t bits; };
template <>
inline float to_f32<Bf16>(Bf16 v) { return bf16_to_f32(v.bits); }
template <>
inline float to_f32<F16>(F16 v) { return f16_to_f32(v.bits); }

// Fixed-order reduction of the 16 partial sums, then the scalar tail: identical for every NT.
template <typename W, int NT>
[[gnu::always_inline]] inline void dot_rows(const float* x, int64_t ldx, const W* w, int64_t cols, float* y, int64_t ldy) {
  float acc[NT][kLanes] = {};
  const int64_t main = cols / kLanes * kLanes;
  for (int64_t i = 0; i < main; i += kLanes) {
    float wf[kLanes];
    for (int j = 0; j < kLanes; ++j) wf[j] = to_f32(w[i + j]);
    for (int t = 0; t < NT; ++t)
      for (int j = 0; j < kLanes; ++j) acc[t][j] += x[t * ldx + i + j] * wf[j];
  }
  for (int t = 0; t < NT; ++t) {
    float s8[8], s4[4], s2[2];
    for (int j = 0; j < 8; ++j) s8[j] = acc[t][j] + acc[t][j + 8];
    for (int j = 0; j < 4; ++j) s4[j] = s8[j] + s8[j + 4];
    for (int j = 0; j < 2; ++j) s2[j] = s4[j] + s4[j + 2];
    float s = s2[0] + s2[1];
    float tail = 0;
    for (int64_t i = main; i < cols; ++i) tail += x[t * ldx + i] * to_f32(w[i]);
    y[t * ldy] = s + tail;
  }
}

template <typename W>
void matmul_rows(const MatmulJob& job, int64_t r0, int64_t r1) {
  const float* x = job.x;
  const W* w = static_cast<const W*>(job.w);
  const int64_t n = job.n, rows = job.rows, cols = job.cols;
  float* y = job.y;
  for (int64_t o = r0; o < r1; ++o) {
    const W* wr = w + o * cols;
    int64_t t = 0;
    for (; t + kMaxTok <= n; t += kMaxTok) dot_rows<W, kMaxTok>(x + t * cols, cols, wr, cols, y + t * rows + o, rows);
    switch (n - t) {
      case 3: dot_rows<W, 3>(x + t * cols, cols, wr, cols, y + t * rows + o, rows); break;
      case 2: dot_rows<W, 2>(x + t * cols, cols, wr, cols, y + t * rows + o, rows); break;
      case 1: dot_rows<W, 1>(x + t * cols, cols, wr, cols, y + t * rows + o, rows); break;
      default: break;
    }
  }
}

}  // namespace

void fill_portable_float(IsaTable& t) {
  t.matmul.f32 = matmul_rows<float>;
  t.matmul.bf16 = matmul_rows<Bf16>;
  t.matmul.f16 = matmul_rows<F16>;
}

}  // namespace qwen3::kernels::cpu
