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
// 32-column steps (the block's last partial step masked with zeros), added, then fused with
// 256 * the block scale into a 16-lane row accumulator, reduced at the end. (256 * s is exact, so
// this is the (sum * 256) * s of the scalar twin's order, barring overflow past 2^128.) The same
// for every number of tokens and rows sharing a pass, so a token's result does not depend on the
// batch or the row split.
//
// Passes (they change which dot products share a pass, never the operations of one): decode
// (n < 4) reads kDecodeRows weight rows side by side with all n tokens (each byte read once,
// independent FMA chains per row), the next block of rows prefetched into L2 as one linear
// stream; prefill decodes kPRows rows a chunk of columns at a time into an L1 buffer (the same
// floats) and runs tiles of 4 tokens x kPRows rows over it, so decoding is paid once per token
// block instead of once per 4 tokens.
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source, which
// -Wmaybe-uninitialized flags once inlined; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int kTok = 4;  // tokens per tile
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

// 32 e4m3 codes as two 16-byte halves, each widened in a 256-bit register (kDecode16: cheaper on
// CPUs that split 512-bit shuffles); the same values as decode32.
constexpr bool kDecode16 = true;
[[gnu::always_inline]] inline void decode32x(const uint8_t* p, __m512& w0, __m512& w1) {
  if constexpr (kDecode16) {
    const __m256i m = _mm256_set1_epi16(int16_t(0xBF80));
    const __m256i h0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256i h1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
    w0 = _mm512_cvtph_ps(_mm256_and_si256(_mm256_slli_epi16(h0, 7), m));
    w1 = _mm512_cvtph_ps(_mm256_and_si256(_mm256_slli_epi16(h1, 7), m));
  } else {
    decode32(p, ~__mmask32(0), w0, w1);
  }
}

// T tokens x R weight rows, each dot product in the order of the header. x: T rows of stride ldx;
// w: R rows of stride ldw, scales s[r]; y[t * ldy + r]. next: the next block of R rows, prefetched
// into L2 as one linear stream while these R rows are read side by side (null: none).
template <int T, int R>
[[gnu::always_inline]] inline void tile(const float* x, int64_t ldx, const uint8_t* w, int64_t ldw,
                                        const float* const* s, int64_t cols, float* y, int64_t ldy,
                                        const char* next) {
  __m512 row[T][R];
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) row[t][r] = _mm512_setzero_ps();
  for (int64_t b0 = 0; b0 < cols; b0 += kBlock) {
    const int64_t len = cols - b0 < kBlock ? cols - b0 : kBlock;
    __m512 a0[T][R], a1[T][R];
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r) a0[t][r] = _mm512_setzero_ps(), a1[t][r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= len; i += 32) {
      if (next) {
        constexpr int kLines = R / 2 > 0 ? R / 2 : 1;  // R x 32 bytes per step
        const char* p = next + (b0 + i) * R;
        for (int l = 0; l < kLines; ++l) _mm_prefetch(p + 64 * l, _MM_HINT_T1);
      }
      __m512 x0[T], x1[T];
      for (int t = 0; t < T; ++t) {
        x0[t] = _mm512_loadu_ps(x + t * ldx + b0 + i);
        x1[t] = _mm512_loadu_ps(x + t * ldx + b0 + i + 16);
      }
      for (int r = 0; r < R; ++r) {
        __m512 w0, w1;
        decode32x(w + r * ldw + b0 + i, w0, w1);
        for (int t = 0; t < T; ++t) {
          a0[t][r] = _mm512_fmadd_ps(x0[t], w0, a0[t][r]);
          a1[t][r] = _mm512_fmadd_ps(x1[t], w1, a1[t][r]);
        }
      }
    }
    if (i < len) {
      const int rem = int(len - i);  // 1 .. 31
      const __mmask16 m0 = rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1);
      const __mmask16 m1 = rem > 16 ? __mmask16((1u << (rem - 16)) - 1) : __mmask16(0);
      __m512 x0[T], x1[T];
      for (int t = 0; t < T; ++t) {
        x0[t] = _mm512_maskz_loadu_ps(m0, x + t * ldx + b0 + i);
        x1[t] = _mm512_maskz_loadu_ps(m1, x + t * ldx + b0 + i + 16);
      }
      for (int r = 0; r < R; ++r) {
        __m512 w0, w1;
        decode32(w + r * ldw + b0 + i, __mmask32((1u << rem) - 1), w0, w1);
        for (int t = 0; t < T; ++t) {
          a0[t][r] = _mm512_fmadd_ps(x0[t], w0, a0[t][r]);
          a1[t][r] = _mm512_fmadd_ps(x1[t], w1, a1[t][r]);
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m512 sc = _mm512_set1_ps(s[r][b0 / kBlock] * 256.0f);  // (a * 256) * s, see header
      for (int t = 0; t < T; ++t) row[t][r] = _mm512_fmadd_ps(_mm512_add_ps(a0[t][r], a1[t][r]), sc, row[t][r]);
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

// Prefill: T tokens x R rows over one chunk of columns [c0, c0 + clen) (whole 128-blocks but the
// matrix's last), the weights already decoded into wf (R rows of stride kChunk floats, the value /
// 256 as decode32 gives it, zeros past the end of the matrix); row accumulators in memory,
// acc[(t * kPRows + r) * 16], updated once per block. The same operations as tile().
constexpr int kPRows = 3;           // weight rows per prefill tile
constexpr int64_t kChunk = 512;     // columns decoded at once (4 blocks)
constexpr int kPTok = 64;           // most tokens per prefill token block
constexpr int64_t kXBlockBytes = 256 << 10;

// Pins loaded x vectors to registers: without it GCC folds them back into the FMAs as memory
// operands, one load per FMA, which makes the tile load-bound.
template <int T>
[[gnu::always_inline]] inline void keep_in_registers(__m512 (&v)[T]) {
  for (int t = 0; t < T; ++t) asm("" : "+v"(v[t]));
}

template <int T, int R>
[[gnu::always_inline]] inline void tile_f(const float* x, int64_t ldx, const float* wf, const float* const* s,
                                          int64_t c0, int64_t clen, int64_t cols, float* acc) {
  for (int64_t j0 = 0; j0 < clen; j0 += kBlock) {
    const int64_t b0 = c0 + j0, len = cols - b0 < kBlock ? cols - b0 : kBlock;
    __m512 a0[T][R], a1[T][R];
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r) a0[t][r] = _mm512_setzero_ps(), a1[t][r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= len; i += 32) {
      __m512 xv[T];
      for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x + t * ldx + b0 + i);
      keep_in_registers(xv);
      for (int r = 0; r < R; ++r) {
        const __m512 w0 = _mm512_load_ps(wf + r * kChunk + j0 + i);
        for (int t = 0; t < T; ++t) a0[t][r] = _mm512_fmadd_ps(xv[t], w0, a0[t][r]);
      }
      for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x + t * ldx + b0 + i + 16);
      keep_in_registers(xv);
      for (int r = 0; r < R; ++r) {
        const __m512 w1 = _mm512_load_ps(wf + r * kChunk + j0 + i + 16);
        for (int t = 0; t < T; ++t) a1[t][r] = _mm512_fmadd_ps(xv[t], w1, a1[t][r]);
      }
    }
    if (i < len) {
      const int rem = int(len - i);  // 1 .. 31
      const __mmask16 m0 = rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1);
      const __mmask16 m1 = rem > 16 ? __mmask16((1u << (rem - 16)) - 1) : __mmask16(0);
      for (int t = 0; t < T; ++t) {
        const __m512 x0 = _mm512_maskz_loadu_ps(m0, x + t * ldx + b0 + i);
        const __m512 x1 = _mm512_maskz_loadu_ps(m1, x + t * ldx + b0 + i + 16);
        for (int r = 0; r < R; ++r) {
          a0[t][r] = _mm512_fmadd_ps(x0, _mm512_load_ps(wf + r * kChunk + j0 + i), a0[t][r]);
          a1[t][r] = _mm512_fmadd_ps(x1, _mm512_load_ps(wf + r * kChunk + j0 + i + 16), a1[t][r]);
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m512 sc = _mm512_set1_ps(s[r][b0 / kBlock] * 256.0f);
      for (int t = 0; t < T; ++t) {
        float* p = acc + (t * kPRows + r) * 16;
        _mm512_store_ps(p, _mm512_fmadd_ps(_mm512_add_ps(a0[t][r], a1[t][r]), sc, _mm512_load_ps(p)));
      }
    }
  }
}

template <int T, int R>
void tile_f_fn(const float* x, int64_t ldx, const float* wf, const float* const* s, int64_t c0, int64_t clen,
               int64_t cols, float* acc) {
  tile_f<T, R>(x, ldx, wf, s, c0, clen, cols, acc);
}

// R rows from o: tokens [t0, t1) (at most kPTok) in tiles of kTok, chunk by chunk.
template <int R>
void prefill_rows(const MatmulJob& job, const float* const* s, int64_t o, int64_t t0, int64_t t1) {
  using Fn = void (*)(const float*, int64_t, const float*, const float* const*, int64_t, int64_t, int64_t, float*);
  static constexpr Fn tail[kTok] = {nullptr, tile_f_fn<1, R>, tile_f_fn<2, R>, tile_f_fn<3, R>};
  const uint8_t* w = static_cast<const uint8_t*>(job.w);
  const int64_t cols = job.cols, rows = job.rows;
  alignas(64) float acc[kPTok * kPRows * 16];
  alignas(64) float wf[kPRows * kChunk];
  for (int64_t k = 0; k < (t1 - t0) * kPRows * 16; ++k) acc[k] = 0.0f;
  for (int64_t c0 = 0; c0 < cols; c0 += kChunk) {
    const int64_t clen = cols - c0 < kChunk ? cols - c0 : kChunk;
    for (int r = 0; r < R; ++r) {
      const uint8_t* wr = w + (o + r) * cols + c0;
      for (int64_t i = 0; i < clen; i += 32) {
        __m512 w0, w1;
        if (i + 32 <= clen) decode32x(wr + i, w0, w1);
        else decode32(wr + i, __mmask32((1u << (clen - i)) - 1), w0, w1);
        _mm512_store_ps(wf + r * kChunk + i, w0);
        _mm512_store_ps(wf + r * kChunk + i + 16, w1);
      }
    }
    int64_t t = t0;
    for (; t + kTok <= t1; t += kTok)
      tile_f<kTok, R>(job.x + t * cols, cols, wf, s, c0, clen, cols, acc + (t - t0) * kPRows * 16);
    if (t < t1) tail[t1 - t](job.x + t * cols, cols, wf, s, c0, clen, cols, acc + (t - t0) * kPRows * 16);
  }
  for (int64_t t = t0; t < t1; ++t)
    for (int r = 0; r < R; ++r) job.y[t * rows + o + r] = hsum(_mm512_load_ps(acc + ((t - t0) * kPRows + r) * 16));
}

// Decode (n < kTok): all n tokens against kDecodeRows weight rows per pass (each weight byte
// read once), the next block of rows prefetched. Prefill: token blocks whose x rows stay in L2;
// per block, kPRows weight rows decoded kChunk columns at a time into L1 and read by tiles of
// kTok tokens x kPRows rows.
constexpr int kDecodeRows = 8;
constexpr int64_t kPrefillMin = 8;  // fewer tokens (batched decode): 4-token tiles, in-register decode

void matmul_fp8(const MatmulJob& job, int64_t r0, int64_t r1) {
  const uint8_t* w = static_cast<const uint8_t*>(job.w);
  const int64_t n = job.n, rows = job.rows, cols = job.cols, ncb = (cols + kBlock - 1) / kBlock;
  auto scales = [&](int64_t o) {
    return job.w_block_scales + (job.w_block_scale_rows ? job.w_block_scale_rows[o] : o / kBlock) * ncb;
  };
  using Fn = void (*)(const float*, int64_t, const uint8_t*, int64_t, const float* const*, int64_t, float*, int64_t,
                      const char*);
  if (n < kTok) {
    static constexpr Fn wide[kTok] = {nullptr, tile_fn<1, kDecodeRows>, tile_fn<2, kDecodeRows / 2>,
                                      tile_fn<3, kDecodeRows / 2>};
    static constexpr Fn one[kTok] = {nullptr, tile_fn<1, 1>, tile_fn<2, 1>, tile_fn<3, 1>};
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
  if (n < kPrefillMin) {  // few tokens: decoding into L1 would not pay; direct 4-token tiles
    static constexpr Fn one[kTok] = {nullptr, tile_fn<1, 1>, tile_fn<2, 1>, tile_fn<3, 1>};
    for (int64_t o = r0; o < r1; ++o) {
      const float* s[1] = {scales(o)};
      int64_t t = 0;
      for (; t + kTok <= n; t += kTok) tile<kTok, 1>(job.x + t * cols, cols, w + o * cols, cols, s, cols, job.y + t * rows + o, rows, nullptr);
      if (t < n) one[n - t](job.x + t * cols, cols, w + o * cols, cols, s, cols, job.y + t * rows + o, rows, nullptr);
    }
    return;
  }
  int64_t tb = kXBlockBytes / (cols * 4) / kTok * kTok;
  if (tb < 4 * kTok) tb = 4 * kTok;
  if (tb > kPTok) tb = kPTok;
  for (int64_t b0 = 0; b0 < n; b0 += tb) {
    const int64_t b1 = b0 + tb < n ? b0 + tb : n;
    int64_t o = r0;
    for (; o + kPRows <= r1; o += kPRows) {
      const float* s[kPRows];
      for (int r = 0; r < kPRows; ++r) s[r] = scales(o + r);
      prefill_rows<kPRows>(job, s, o, b0, b1);
    }
    for (; o < r1; ++o) {
      const float* s[1] = {scales(o)};
      prefill_rows<1>(job, s, o, b0, b1);
    }
  }
}

}  // namespace

void fill_avx512_fp8(IsaTable& t) { t.matmul[5] = matmul_fp8; }

}  // namespace qwen3::kernels::cpu
