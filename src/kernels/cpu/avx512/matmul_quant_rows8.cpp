// q8 / q4 matmul for avx512 on the row-grouped layout (kernels.h, WeightView::row_group). One
// 32-byte load holds the same 4 bytes of one block of 8 rows, so the 8 int32 lanes of a register
// are the block dot products of 8 rows and nothing is reduced across lanes. Per (group of 8 rows,
// block, token): 8 vpdpbusd (the token's 4 activation bytes broadcast to every lane), one
// int -> float conversion, one product of the 8 rows' scales by the token's scale and one FMA into
// lane r = row r: acc = fmaf(float(dot), x_scale · w_scale, acc), blocks in order, the layout's
// contract, whatever n, the thread count or the tile that computes a (token, row).
//
// vpdpbusd multiplies unsigned by signed bytes: the weight goes in unsigned (q4 nibbles as they
// are, 0..15; q8 as w ^ 0x80 = w + 128) and each block's int32 accumulator starts at the
// token's companion −c Σx over the block (c = 8 or 128), so that lane r ends at exactly Σ w_r x.
// Companions are computed once per call (decode) or per token tile and L2-sized range of rows
// (prefill), as in cpu/matmul_quant_simd.inc.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int64_t kB = 32, kG = 8;            // block columns, rows per group
constexpr int kTok = 4, kGroups = 3;          // prefill register tile: tokens x groups
constexpr int kDecodeGroups = 2;              // decode (n < kTok): groups read side by side
constexpr int64_t kStackBlocks = 1024;        // companions on the stack up to 32768 columns
constexpr int64_t kWBlockBytes = 256 << 10;   // prefill: weight bytes per pass (L2)

struct Args {
  const int8_t* xq;    // [n, kpad]
  const float* xs;     // [n, nb]
  const uint8_t* w;    // groups, then the tail rows
  const uint16_t* ws;
  const int32_t* cp;   // companions of the tokens being computed, from token cp_t0: [token][nb]
  int64_t cp_t0;
  float* y;            // [n, ldy]
  int64_t nb, kpad, ldy;
};

// The 8 weight operands of one group-block: operand k = bytes 4k..4k+3 of the 8 rows, unsigned,
// meeting activations 4k..4k+3 (q4: loads 0..3 give elements 4k.. in the low nibbles and
// 16 + 4k.. in the high ones).
template <bool Q4>
[[gnu::always_inline]] inline void weight_ops(const uint8_t* p, __m256i w[8]) {
  if constexpr (Q4) {
    const __m256i m = _mm256_set1_epi8(15);
    for (int k = 0; k < 4; ++k) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * k));
      w[k] = _mm256_and_si256(v, m);
      w[k + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    }
  } else {
    for (int k = 0; k < 8; ++k)
      w[k] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * k)),
                              _mm256_set1_epi8(char(0x80)));
  }
}

[[gnu::always_inline]] inline int32_t load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <bool Q4>
void fill_companions(const int8_t* xq, int64_t kpad, int64_t nb, int64_t t, int64_t count, int32_t* cp) {
  for (int64_t i = 0; i < count; ++i)
    for (int64_t b = 0; b < nb; ++b) {
      const int8_t* xb = xq + (t + i) * kpad + b * kB;
      int32_t s = 0;
      for (int j = 0; j < kB; ++j) s += xb[j];
      cp[i * nb + b] = -(Q4 ? 8 : 128) * s;
    }
}

// T tokens from t x G groups from g. `next`: the weights of the next G groups, prefetched into L2
// as one linear stream while these G are read side by side (null: none).
template <int T, int G, bool Q4>
[[gnu::always_inline]] inline void tile(const Args& a, int64_t t, int64_t g, const char* next) {
  constexpr int64_t gb = kG * (Q4 ? kB / 2 : kB);  // bytes of one group-block
  const int8_t* x = a.xq + t * a.kpad;
  const float* xs = a.xs + t * a.nb;
  const int32_t* cp = a.cp + (t - a.cp_t0) * a.nb;
  const uint8_t* w = a.w + g * a.nb * gb;
  const uint16_t* ws = a.ws + g * a.nb * kG;
  __m256 acc[T][G];
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < G; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b) {
    if (next)
      for (int l = 0; l < int(G * gb / 64); ++l) _mm_prefetch(next + b * G * gb + 64 * l, _MM_HINT_T2);
    for (int j = 0; j < G; ++j) {
      __m256i wo[8];
      weight_ops<Q4>(w + (j * a.nb + b) * gb, wo);
      const __m256 sw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ws + (j * a.nb + b) * kG)));
      for (int i = 0; i < T; ++i) {
        const int8_t* xb = x + i * a.kpad + b * kB;
        __m256i d = _mm256_set1_epi32(cp[i * a.nb + b]);
        for (int k = 0; k < 8; ++k) d = _mm256_dpbusd_epi32(d, wo[k], _mm256_set1_epi32(load4(xb + 4 * k)));
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(sw, _mm256_set1_ps(xs[i * a.nb + b])), acc[i][j]);
      }
    }
  }
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < G; ++j) _mm256_storeu_ps(a.y + (t + i) * a.ldy + (g + j) * kG, acc[i][j]);
}

template <int T, int G, bool Q4>
void tile_fn(const Args& a, int64_t t, int64_t g, const char* next) {
  tile<T, G, Q4>(a, t, g, next);
}

// Tokens [t0, t1) against G groups from g, in tiles of kTok tokens.
template <int G, bool Q4>
void run_tokens(const Args& a, int64_t t0, int64_t t1, int64_t g, const char* next) {
  using Fn = void (*)(const Args&, int64_t, int64_t, const char*);
  static constexpr Fn tail[4] = {nullptr, tile_fn<1, G, Q4>, tile_fn<2, G, Q4>, tile_fn<3, G, Q4>};
  static_assert(kTok <= 4);
  int64_t t = t0;
  for (; t + kTok <= t1; t += kTok) tile<kTok, G, Q4>(a, t, g, next);
  if (t < t1) tail[t1 - t](a, t, g, next);
}

// Exact Σ a_j b_j over 32 int8 pairs. Not a plain loop: GCC 12.2 vectorizes
// `s += int(a[j]) * int(int8_t(u8[j]))` into vpdpbusd, which reads the uint8 side unsigned (wrong).
[[gnu::always_inline]] inline int32_t dot32(const int8_t* a, const int8_t* b) {
  const auto half = [](const int8_t* p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); };
  const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(half(a), half(b)), _mm256_madd_epi16(half(a + 16), half(b + 16)));
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
  return _mm_cvtsi128_si32(s4);
}

// The rows % 8 tail rows [o0, o1), row-major: plain code in the same order.
template <bool Q4>
void tail_rows(const Args& a, int64_t n, int64_t o0, int64_t o1) {
  constexpr int64_t bb = Q4 ? kB / 2 : kB;
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t t = 0; t < n; ++t) {
      float acc = 0;
      for (int64_t b = 0; b < a.nb; ++b) {
        const uint8_t* blk = a.w + (o * a.nb + b) * bb;
        int8_t wv[kB];  // signed weight values
        for (int j = 0; j < kB; ++j) wv[j] = int8_t(Q4 ? (j < 16 ? (blk[j] & 15) : (blk[j - 16] >> 4)) - 8 : int8_t(blk[j]));
        const int32_t dot = dot32(a.xq + t * a.kpad + b * kB, wv);
        acc = std::fma(float(dot), a.xs[t * a.nb + b] * _cvtsh_ss(a.ws[o * a.nb + b]), acc);
      }
      a.y[t * a.ldy + o] = acc;
    }
}

template <bool Q4>
void matmul_rows8(const MatmulJob& job, int64_t r0, int64_t r1) {
  constexpr int64_t gb = kG * (Q4 ? kB / 2 : kB);
  Args a;
  a.nb = (job.cols + kB - 1) / kB, a.kpad = a.nb * kB, a.ldy = job.rows;
  a.xq = static_cast<const int8_t*>(job.xq);
  a.xs = job.xs;
  a.w = static_cast<const uint8_t*>(job.w), a.ws = job.w_scales, a.y = job.y;
  const int64_t n = job.n, grouped = job.rows - job.rows % kG;
  const int64_t g0 = r0 / kG, g1 = (r1 < grouped ? r1 : grouped) / kG;  // r0 % 8 == 0 (isa_table.h)
  int32_t stack_cp[kTok * kStackBlocks];
  int32_t* cp = a.nb <= kStackBlocks ? stack_cp : static_cast<int32_t*>(std::malloc(size_t(kTok * a.nb) * 4));
  if (!cp) std::abort();  // out of memory for a row longer than any Qwen3 layer's
  a.cp = cp;
  const auto next_of = [&](int64_t g) { return reinterpret_cast<const char*>(a.w + g * a.nb * gb); };
  if (n < kTok) {  // decode
    fill_companions<Q4>(a.xq, a.kpad, a.nb, 0, n, cp);
    a.cp_t0 = 0;
    int64_t g = g0;
    for (; g + kDecodeGroups <= g1; g += kDecodeGroups) run_tokens<kDecodeGroups, Q4>(a, 0, n, g, next_of(g + kDecodeGroups));
    for (; g < g1; ++g) run_tokens<1, Q4>(a, 0, n, g, nullptr);
  } else {
    // Ranges of groups whose weights stay in L2 while every token tile passes over them.
    int64_t rg = kWBlockBytes / (a.nb * gb) / kGroups * kGroups;
    if (rg < kGroups) rg = kGroups;
    for (int64_t q0 = g0; q0 < g1; q0 += rg) {
      const int64_t q1 = q0 + rg < g1 ? q0 + rg : g1;
      for (int64_t t = 0; t < n; t += kTok) {
        const int64_t t1 = t + kTok < n ? t + kTok : n;
        fill_companions<Q4>(a.xq, a.kpad, a.nb, t, t1 - t, cp);
        a.cp_t0 = t;
        int64_t g = q0;  // the first token tile reads the rows from memory: prefetch as in decode
        for (; g + kGroups <= q1; g += kGroups) run_tokens<kGroups, Q4>(a, t, t1, g, t == 0 ? next_of(g + kGroups) : nullptr);
        for (; g < q1; ++g) run_tokens<1, Q4>(a, t, t1, g, nullptr);
      }
    }
  }
  if (r1 > grouped) tail_rows<Q4>(a, n, r0 > grouped ? r0 : grouped, r1);
  if (cp != stack_cp) std::free(cp);
}

}  // namespace

void fill_avx512_quant_rows8(IsaTable& t) {
  t.matmul.q8_rows8 = matmul_rows8<false>;
  t.matmul.q4_rows8 = matmul_rows8<true>;
}

}  // namespace qwen3::kernels::cpu
