// AVX2 + F16C matmul for FP8 (e4m3) weights with float32 128 x 128 block scales.
//
// Decoding in registers, exact, as in the AVX-512 kernel: a byte sign-extended to 16 bits, shifted
// left by 7, bit 14 cleared, is the float16 of the e4m3 value / 256 (normal and subnormal codes;
// NaN codes are refused by the loader); vcvtph2ps widens it exactly and the 256 is applied once
// per block, with the block's scale.
//
// Order, per token and output row: for each 128-column block, two 8-lane accumulators over
// 16-column steps (the block's last partial step read through zero-padded copies), added, times
// 256, fused with the block scale into an 8-lane row accumulator, reduced at the end in a fixed
// order. The same whatever the number of tokens sharing a pass (batch invariance).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int kMaxTok = 4;
constexpr int64_t kBlock = 128;

[[gnu::always_inline]] inline void decode16(__m128i raw, __m256& w0, __m256& w1) {
  const __m256i h = _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(raw), 7), _mm256_set1_epi16(int16_t(0xBF80)));
  w0 = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  w1 = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

[[gnu::always_inline]] inline float hsum(__m256 v) {
  const __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // 4
  const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));                                   // 2
  return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

template <int NT>
[[gnu::always_inline]] inline void dot_rows(const float* x, int64_t ldx, const uint8_t* w, const float* scales,
                                            int64_t cols, float* y, int64_t ldy) {
  __m256 row[NT];
  for (int t = 0; t < NT; ++t) row[t] = _mm256_setzero_ps();
  const __m256 k256 = _mm256_set1_ps(256.0f);
  for (int64_t b0 = 0; b0 < cols; b0 += kBlock) {
    const int64_t len = cols - b0 < kBlock ? cols - b0 : kBlock;
    __m256 a0[NT], a1[NT];
    for (int t = 0; t < NT; ++t) a0[t] = _mm256_setzero_ps(), a1[t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
      __m256 w0, w1;
      decode16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + b0 + i)), w0, w1);
      for (int t = 0; t < NT; ++t) {
        const float* xp = x + t * ldx + b0 + i;
        a0[t] = _mm256_fmadd_ps(_mm256_loadu_ps(xp), w0, a0[t]);
        a1[t] = _mm256_fmadd_ps(_mm256_loadu_ps(xp + 8), w1, a1[t]);
      }
    }
    if (i < len) {  // 1 .. 15 columns left: zero-padded copies, the same steps
      const int r = int(len - i);
      alignas(16) uint8_t wb[16] = {};
      std::memcpy(wb, w + b0 + i, size_t(r));
      __m256 w0, w1;
      decode16(_mm_load_si128(reinterpret_cast<const __m128i*>(wb)), w0, w1);
      for (int t = 0; t < NT; ++t) {
        alignas(32) float xb[16] = {};
        std::memcpy(xb, x + t * ldx + b0 + i, size_t(r) * 4);
        a0[t] = _mm256_fmadd_ps(_mm256_load_ps(xb), w0, a0[t]);
        a1[t] = _mm256_fmadd_ps(_mm256_load_ps(xb + 8), w1, a1[t]);
      }
    }
    const __m256 s = _mm256_set1_ps(scales[b0 / kBlock]);
    for (int t = 0; t < NT; ++t) row[t] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_add_ps(a0[t], a1[t]), k256), s, row[t]);
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

void fill_avx2_fp8(IsaTable& t) { t.matmul[5] = matmul_fp8; }

}  // namespace qwen3::kernels::cpu
