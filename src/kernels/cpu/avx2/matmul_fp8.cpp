// AVX2 + F16C matmul for FP8 (e4m3) weights with float32 128 x 128 block scales.
//
// Decoding in registers, exact, as in the AVX-512 kernel: a byte sign-extended to 16 bits, shifted
// left by 7, bit 14 cleared, is the float16 of the e4m3 value / 256 (normal and subnormal codes;
// NaN codes are refused by the loader); vcvtph2ps widens it exactly and the 256 is applied once
// per block, with the block's scale.
//
// Order, per token and output row: for each 128-column block, two 8-lane accumulators over
// 16-column steps (the block's last partial step read through zero-padded copies), added, fused
// with 256 * the block scale (exact, so the (sum * 256) * s of the scalar twin, barring overflow
// past 2^128) into an 8-lane row accumulator, reduced at the end in a fixed order. The same
// whatever the number of tokens and rows sharing a pass (batch invariance).
//
// Passes: decode (n < 4) reads kDecodeRows weight rows side by side with all n tokens, the next
// block of rows prefetched into L2 as one linear stream; prefill takes 4 tokens x 1 row per pass.
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

// T tokens x R weight rows, each dot product in the order of the header. x: T rows of stride ldx;
// w: R rows of stride ldw, scales s[r]; y[t * ldy + r]. next: the next block of R rows, prefetched
// into L2 as one linear stream while these R rows are read side by side (null: none).
template <int T, int R>
[[gnu::always_inline]] inline void tile(const float* x, int64_t ldx, const uint8_t* w, int64_t ldw,
                                        const float* const* s, int64_t cols, float* y, int64_t ldy,
                                        const char* next) {
  __m256 row[T][R];
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) row[t][r] = _mm256_setzero_ps();
  for (int64_t b0 = 0; b0 < cols; b0 += kBlock) {
    const int64_t len = cols - b0 < kBlock ? cols - b0 : kBlock;
    __m256 a0[T][R], a1[T][R];
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r) a0[t][r] = _mm256_setzero_ps(), a1[t][r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
      if (next) {
        constexpr int kLines = R / 4 > 0 ? R / 4 : 1;  // R x 16 bytes per step
        const char* p = next + (b0 + i) * R;
        for (int l = 0; l < kLines; ++l) _mm_prefetch(p + 64 * l, _MM_HINT_T1);
      }
      __m256 x0[T], x1[T];
      for (int t = 0; t < T; ++t) {
        x0[t] = _mm256_loadu_ps(x + t * ldx + b0 + i);
        x1[t] = _mm256_loadu_ps(x + t * ldx + b0 + i + 8);
      }
      for (int r = 0; r < R; ++r) {
        __m256 w0, w1;
        decode16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + r * ldw + b0 + i)), w0, w1);
        for (int t = 0; t < T; ++t) {
          a0[t][r] = _mm256_fmadd_ps(x0[t], w0, a0[t][r]);
          a1[t][r] = _mm256_fmadd_ps(x1[t], w1, a1[t][r]);
        }
      }
    }
    if (i < len) {  // 1 .. 15 columns left: zero-padded copies, the same steps
      const int rem = int(len - i);
      __m256 x0[T], x1[T];
      for (int t = 0; t < T; ++t) {
        alignas(32) float xb[16] = {};
        std::memcpy(xb, x + t * ldx + b0 + i, size_t(rem) * 4);
        x0[t] = _mm256_load_ps(xb), x1[t] = _mm256_load_ps(xb + 8);
      }
      for (int r = 0; r < R; ++r) {
        alignas(16) uint8_t wb[16] = {};
        std::memcpy(wb, w + r * ldw + b0 + i, size_t(rem));
        __m256 w0, w1;
        decode16(_mm_load_si128(reinterpret_cast<const __m128i*>(wb)), w0, w1);
        for (int t = 0; t < T; ++t) {
          a0[t][r] = _mm256_fmadd_ps(x0[t], w0, a0[t][r]);
          a1[t][r] = _mm256_fmadd_ps(x1[t], w1, a1[t][r]);
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m256 sc = _mm256_set1_ps(s[r][b0 / kBlock] * 256.0f);  // (a * 256) * s, see header
      for (int t = 0; t < T; ++t) row[t][r] = _mm256_fmadd_ps(_mm256_add_ps(a0[t][r], a1[t][r]), sc, row[t][r]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) y[t * ldy + r] = hsum(row[t][r]);
}

template <int T, int R>
void tile_fn(const float* x, int64_t ldx, const uint8_t* w, int64_t ldw, const float* const* s, int64_t cols, float* y,
             int64_t ldy, const char* next) {
  tile<T, R>(x, ldx, w, ldw, s, cols, y, ldy, next);
}

constexpr int kTok = kMaxTok;
constexpr int kDecodeRows = 4;  // rows per decode pass for n = 1 (half that for n = 2, 3)

void matmul_fp8(const MatmulJob& job, int64_t r0, int64_t r1) {
  const uint8_t* w = static_cast<const uint8_t*>(job.w);
  const int64_t n = job.n, rows = job.rows, cols = job.cols, ncb = (cols + kBlock - 1) / kBlock;
  auto scales = [&](int64_t o) {
    return job.w_block_scales + (job.w_block_scale_rows ? job.w_block_scale_rows[o] : o / kBlock) * ncb;
  };
  using Fn = void (*)(const float*, int64_t, const uint8_t*, int64_t, const float* const*, int64_t, float*, int64_t,
                      const char*);
  static constexpr Fn one[kTok] = {nullptr, tile_fn<1, 1>, tile_fn<2, 1>, tile_fn<3, 1>};
  if (n < kTok) {
    static constexpr Fn wide[kTok] = {nullptr, tile_fn<1, kDecodeRows>, tile_fn<2, kDecodeRows / 2>,
                                      tile_fn<3, kDecodeRows / 2>};
    const int R = n == 1 ? kDecodeRows : kDecodeRows / 2;
    int64_t o = r0;
    for (; o + R <= r1; o += R) {
      const float* s[kDecodeRows];
      for (int r = 0; r < R; ++r) s[r] = scales(o + r);
      wide[n](job.x, cols, w + o * cols, cols, s, cols, job.y + o, rows, reinterpret_cast<const char*>(w + (o + R) * cols));
    }
    for (; o < r1; ++o) {
      const float* s[1] = {scales(o)};
      one[n](job.x, cols, w + o * cols, cols, s, cols, job.y + o, rows, nullptr);
    }
    return;
  }
  for (int64_t o = r0; o < r1; ++o) {
    const float* s[1] = {scales(o)};
    int64_t t = 0;
    for (; t + kTok <= n; t += kTok) tile<kTok, 1>(job.x + t * cols, cols, w + o * cols, cols, s, cols, job.y + t * rows + o, rows, nullptr);
    if (t < n) one[n - t](job.x + t * cols, cols, w + o * cols, cols, s, cols, job.y + t * rows + o, rows, nullptr);
  }
}

}  // namespace

void fill_avx2_fp8(IsaTable& t) { t.matmul[5] = matmul_fp8; }

}  // namespace qwen3::kernels::cpu
