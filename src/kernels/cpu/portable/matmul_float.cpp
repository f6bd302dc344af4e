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

// Column i of a weight row that starts at w: row-major, or (G) inside a row group, where the row's
// 32-column runs are 8 runs apart (kernels.h); kLanes divides 32, so a run never splits a step.
template <bool G, typename W>
inline const W* at(const W* w, int64_t i) {
  if constexpr (G) return w + (i / kGroupCols) * kGroupRows * kGroupCols + i % kGroupCols;
  else return w + i;
}
static_assert(kGroupCols % kLanes == 0);

// Fixed-order reduction of the 16 partial sums, then the scalar tail: identical for every NT.
template <typename W, int NT, bool G = false>
[[gnu::always_inline]] inline void dot_rows(const float* x, int64_t ldx, const W* w, int64_t cols, float* y, int64_t ldy) {
  float acc[NT][kLanes] = {};
  const int64_t main = cols / kLanes * kLanes;
  for (int64_t i = 0; i < main; i += kLanes) {
    float wf[kLanes];
    const W* wi = at<G>(w, i);
    for (int j = 0; j < kLanes; ++j) wf[j] = to_f32(wi[j]);
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
    for (int64_t i = main; i < cols; ++i) tail += x[t * ldx + i] * to_f32(*at<G>(w, i));
    y[t * ldy] = s + tail;
  }
}

template <typename W, bool G>
void row(const float* x, int64_t n, const W* wr, int64_t cols, float* y, int64_t rows) {
  int64_t t = 0;
  for (; t + kMaxTok <= n; t += kMaxTok) dot_rows<W, kMaxTok, G>(x + t * cols, cols, wr, cols, y + t * rows, rows);
  switch (n - t) {
    case 3: dot_rows<W, 3, G>(x + t * cols, cols, wr, cols, y + t * rows, rows); break;
    case 2: dot_rows<W, 2, G>(x + t * cols, cols, wr, cols, y + t * rows, rows); break;
    case 1: dot_rows<W, 1, G>(x + t * cols, cols, wr, cols, y + t * rows, rows); break;
    default: break;
  }
}

// G: the row-grouped layout (kernels.h); its rows % 8 tail rows are row-major.
template <typename W, bool G = false>
void matmul_rows(const MatmulJob& job, int64_t r0, int64_t r1) {
  const float* x = job.x;
  const W* w = static_cast<const W*>(job.w);
  const int64_t n = job.n, rows = job.rows, cols = job.cols, grouped = G ? rows - rows % kGroupRows : 0;
  for (int64_t o = r0; o < r1; ++o) {
    if (o < grouped) {
      const W* wr = w + (o / kGroupRows) * kGroupRows * cols + (o % kGroupRows) * kGroupCols;
      row<W, true>(x, n, wr, cols, job.y + o, rows);
    } else {
      row<W, false>(x, n, w + o * cols, cols, job.y + o, rows);
    }
  }
}

}  // namespace

void fill_portable_float(IsaTable& t) {
  t.matmul.f32 = matmul_rows<float>;
  t.matmul.bf16 = matmul_rows<Bf16>;
  t.matmul.f16 = matmul_rows<F16>;
  t.matmul.f32_rows8 = matmul_rows<float, true>;
  t.matmul.bf16_rows8 = matmul_rows<Bf16, true>;
  t.matmul.f16_rows8 = matmul_rows<F16, true>;
}

}  // namespace qwen3::kernels::cpu
