// Portable q8 / q4 matmul, and the activation quantizer every ISA uses (so the integers a token's
// activations become never depend on the instruction set).
//
// Activations, per row and block of kQBlock = 32 inputs (docs/quantization.md): scale =
// max|x| / 127 and q = round-half-even(x / scale), both in float32; padding and all-zero blocks
// give q = 0. Layout of the buffer (MatmulJob::xq) for n rows and nb blocks per row:
//   int8  q[n][nb * 32]                       at offset 0
//   float scale[n][nb]                        at offset round_up(n * nb * 32, 64)
//
// Numerics of this portable kernel: each (token, output) = Σ over blocks, in block order, of
// float(exact int32 block dot) · (x_scale · w_scale), float32 products and sums; the same for every
// n, thread count and row split.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "kernels/cpu/isa_table.h"
#include "kernels/cpu/row_groups.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int64_t kB = 32;

// std::nearbyint in the default rounding mode (to nearest, ties to even) for |v| < 2^22: adding
// 1.5 * 2^23 lands in [2^23, 2^24), where the float spacing is 1. Inline and vectorizable, unlike
// the libm call.
inline float round_even(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

// One block of len <= kB activations into qb[kB] (zero padded); returns its scale. Called with a
// constant len for full blocks, so that both loops unroll and vectorize.
[[gnu::always_inline]] inline float quantize_block(const float* x, int64_t len, int8_t* qb) {
  // max |x| as std::fmax would give it (NaN skipped), in 8 independent chains: any order of a
  // strict-greater maximum over non-NaN values gives the same float.
  float m[8] = {};
  for (int64_t j = 0; j < len; ++j) {
    const float a = std::fabs(x[j]);
    m[j % 8] = a > m[j % 8] ? a : m[j % 8];
  }
  float amax = 0;
  for (float v : m) amax = v > amax ? v : amax;
  const float s = amax / 127.0f;
  std::memset(qb, 0, kB);
  if (s > 0)
    for (int64_t j = 0; j < len; ++j) qb[j] = int8_t(round_even(x[j] / s));  // |.| <= 127
  return s;
}

// Layout: int8 rows [n, nb * kB], then float scales [n, nb] from the next 64-byte boundary.
size_t quantized_scales_offset(int64_t n, int64_t cols) {
  const int64_t nb = (cols + kB - 1) / kB;
  return size_t((n * nb * kB + 63) / 64 * 64);
}

size_t quantized_bytes(int64_t n, int64_t cols) {
  return quantized_scales_offset(n, cols) + size_t(n * ((cols + kB - 1) / kB)) * sizeof(float);
}

void quantize_activations(const float* x, int64_t cols, int64_t t0, int64_t t1, int64_t n, void* out) {
  const int64_t nb = (cols + kB - 1) / kB;
  int8_t* q = static_cast<int8_t*>(out);
  float* scales = reinterpret_cast<float*>(static_cast<uint8_t*>(out) + quantized_scales_offset(n, cols));
  for (int64_t t = t0; t < t1; ++t) {
    const float* xr = x + t * cols;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t i0 = b * kB, len = cols - i0 < kB ? cols - i0 : kB;
      scales[t * nb + b] = len == kB ? quantize_block(xr + i0, kB, q + (t * nb + b) * kB)
                                     : quantize_block(xr + i0, len, q + (t * nb + b) * kB);
    }
  }
}

// Element j of a weight block as a signed integer.
inline int weight_q8(const uint8_t* blk, int j) { return int(int8_t(blk[j])); }
inline int weight_q4(const uint8_t* blk, int j) { return (j < 16 ? (blk[j] & 15) : (blk[j - 16] >> 4)) - 8; }

// The operands of a q8 / q4 matmul call: nb blocks per row, kpad = nb * kB int8 activations per
// token (xq [n, kpad], scales xs [n, nb]), block_bytes bytes per weight block.
template <bool Q4>
struct QOperands {
  explicit QOperands(const MatmulJob& job)
      : nb((job.cols + kB - 1) / kB), kpad(nb * kB), xq(static_cast<const int8_t*>(job.xq)), xs(job.xs),
        w(static_cast<const uint8_t*>(job.w)) {}
  static constexpr int64_t block_bytes = Q4 ? kB / 2 : kB;
  int64_t nb, kpad;
  const int8_t* xq;
  const float* xs;
  const uint8_t* w;
};

template <bool Q4>
void matmul_quant(const MatmulJob& job, int64_t r0, int64_t r1) {
  const QOperands<Q4> q(job);
  const int64_t nb = q.nb;
  for (int64_t o = r0; o < r1; ++o) {
    const uint8_t* wr = q.w + o * nb * q.block_bytes;
    for (int64_t t = 0; t < job.n; ++t) {
      float acc = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = wr + b * q.block_bytes;
        const int8_t* xb = q.xq + t * q.kpad + b * kB;
        int32_t dot = 0;
        for (int j = 0; j < kB; ++j) dot += int32_t(xb[j]) * (Q4 ? weight_q4(blk, j) : weight_q8(blk, j));
        acc += float(dot) * (q.xs[t * nb + b] * f16_to_f32(job.w_scales[o * nb + b]));
      }
      job.y[t * job.rows + o] = acc;
    }
  }
}

// The row-grouped layout (kernels.h, WeightView::row_group), in that layout's order: acc =
// fmaf(float(dot), x_scale · w_scale, acc) per block. Plain and slow (each row is gathered into
// row-major int8 first): the AVX-512 kernels are the fast ones, this serves the other ISAs.
template <bool Q4>
void matmul_quant_rows8(const MatmulJob& job, int64_t r0, int64_t r1) {
  const QOperands<Q4> q(job);
  const int64_t nb = q.nb, kpad = q.kpad, bb = q.block_bytes;
  thread_local std::vector<int8_t> row;  // [kpad] signed weight values of one row
  thread_local std::vector<float> sw;    // [nb] its block scales
  row.resize(size_t(kpad)), sw.resize(size_t(nb));
  for (int64_t o = r0; o < r1; ++o) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t blk[kB];
      for (int64_t j = 0; j < bb; ++j) blk[j] = q.w[row_group_byte(o, b, j, job.rows, nb, bb)];
      for (int j = 0; j < kB; ++j) row[size_t(b * kB + j)] = int8_t(Q4 ? weight_q4(blk, j) : weight_q8(blk, j));
      sw[size_t(b)] = f16_to_f32(job.w_scales[row_group_scale(o, b, job.rows, nb)]);
    }
    for (int64_t t = 0; t < job.n; ++t) {
      float acc = 0;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t dot = 0;
        for (int64_t j = 0; j < kB; ++j) dot += int32_t(q.xq[t * kpad + b * kB + j]) * row[size_t(b * kB + j)];
        acc = std::fma(float(dot), q.xs[t * nb + b] * sw[size_t(b)], acc);
      }
      job.y[t * job.rows + o] = acc;
    }
  }
}

}  // namespace

void fill_portable_quant(IsaTable& t) {
  t.quantized_bytes = quantized_bytes;
  t.quantized_scales_offset = quantized_scales_offset;
  t.quantize_activations = quantize_activations;
  t.matmul.q8 = matmul_quant<false>;
  t.matmul.q4 = matmul_quant<true>;
  t.matmul.q8_rows8 = matmul_quant_rows8<false>;
  t.matmul.q4_rows8 = matmul_quant_rows8<true>;
}

}  // namespace qwen3::kernels::cpu
