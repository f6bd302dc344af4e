// AVX-512 (F + BW + VL) matmul for FP8 (e4m3) weights with float32 128 x 128 block scales.
//
// Decoding in registers, exact: a byte sign-extended to 16 bits and shifted left by 7, with bit 14
// cleared, is the float16 whose sign, exponent and mantissa fields are the e4m3 ones
// (S.EEEE.MMM -> S.0EEEE.MMM0000000): that float16 is the e4m3 value / 256 for normal and
// subnormal codes alike (the exponent biases are 15 and 7), and vcvtph2ps widens it exactly.
// The factor 256 is applied once per block, with the block's scale. NaN codes are not decoded
// (kernels.h: the loader refuses them).
//
// Order, per token and output row: for each 128-column block, two 16-lane accumulators over
// 32-column steps (the block's last partial step masked with zeros), added, times 256, then fused
// with the block scale into a 16-lane row accumulator, reduced at the end. The same for every
// number of tokens sharing a pass, so a token's result does not depend on the batch.
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source, which
// -Wmaybe-uninitialized flags once inlined; the values are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int kMaxTok = 4;
constexpr int64_t kBlock = 128;

// 32 e4m3 codes -> two vectors of 16 floats (value / 256). `m` masks the bytes read.
[[gnu::always_inline]] inline void decode32(const uint8_t* p, __mmask32 m, __m512& w0, __m512& w1) {
  const __m256i raw = _mm256_maskz_loadu_epi8(m, p);
  const __m512i h = _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(raw), 7), _mm512_set1_epi16(int16_t(0xBF80)));
  w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
  w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
}

// Fixed-order horizontal sum: halves, quarters, then pairs.
[[gnu::always_inline]] inline float hsum(__m512 v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

template <int NT>
[[gnu::always_inline]] inline void dot_rows(const float* x, int64_t ldx, const uint8_t* w, const float* scales,
                                            int64_t cols, float* y, int64_t ldy) {
  __m512 row[NT];
  for (int t = 0; t < NT; ++t) row[t] = _mm512_setzero_ps();
  const __m512 k256 = _mm512_set1_ps(256.0f);
  for (int64_t b0 = 0; b0 < cols; b0 += kBlock) {
    const int64_t len = cols - b0 < kBlock ? cols - b0 : kBlock;
    __m512 a0[NT], a1[NT];
    for (int t = 0; t < NT; ++t) a0[t] = _mm512_setzero_ps(), a1[t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= len; i += 32) {
      __m512 w0, w1;
      decode32(w + b0 + i, ~__mmask32(0), w0, w1);
      for (int t = 0; t < NT; ++t) {
        const float* xp = x + t * ldx + b0 + i;
        a0[t] = _mm512_fmadd_ps(_mm512_loadu_ps(xp), w0, a0[t]);
        a1[t] = _mm512_fmadd_ps(_mm512_loadu_ps(xp + 16), w1, a1[t]);
      }
    }
    if (i < len) {
      const int r = int(len - i);  // 1 .. 31
      const __mmask16 m0 = r >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << r) - 1);
      const __mmask16 m1 = r > 16 ? __mmask16((1u << (r - 16)) - 1) : __mmask16(0);
      __m512 w0, w1;
      decode32(w + b0 + i, __mmask32((1u << r) - 1), w0, w1);
      for (int t = 0; t < NT; ++t) {
        const float* xp = x + t * ldx + b0 + i;
        a0[t] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, xp), w0, a0[t]);
        a1[t] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, xp + 16), w1, a1[t]);
      }
    }
    const __m512 s = _mm512_set1_ps(scales[b0 / kBlock]);
    for (int t = 0; t < NT; ++t) row[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_add_ps(a0[t], a1[t]), k256), s, row[t]);
  }
  for (int t = 0; t < NT; ++t) y[t * ldy] = hsum(row[t]);
}

void matmul_fp8(const MatmulJob& job, int64_t r0, int64_t r1) {
  const uint8_t* w = static_cast<const uint8_t*>(job.w);
  const int64_t n = job.n, rows = job.rows, cols = job.cols, ncb = (cols + kBlock - 1) / kBlock;
  for (int64_t o = r0; o < r1; ++o) {
    const uint8_t* wr = w + o * cols;
    const float* s = job.w_block_scales + (job.w_block_scale_rows ? job.w_block_scale_rows[o] : o / kBlock) * ncb;
    const float* x = job.x;
    float* y = job.y + o;
    int64_t t = 0;
    for (; t + kMaxTok <= n; t += kMaxTok) dot_rows<kMaxTok>(x + t * cols, cols, wr, s, cols, y + t * rows, rows);
    switch (n - t) {
      case 3: dot_rows<3>(x + t * cols, cols, wr, s, cols, y + t * rows, rows); break;
      case 2: dot_rows<2>(x + t * cols, cols, wr, s, cols, y + t * rows, rows); break;
      case 1: dot_rows<1>(x + t * cols, cols, wr, s, cols, y + t * rows, rows); break;
      default: break;
    }
  }
}

}  // namespace

void fill_avx512_fp8(IsaTable& t) { t.matmul[5] = matmul_fp8; }

}  // namespace qwen3::kernels::cpu
