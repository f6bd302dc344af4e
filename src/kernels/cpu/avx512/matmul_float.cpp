// AVX-512 matmul for f32 / bf16 / f16 weights: y[n, rows] = x[n, cols] · Wᵀ, W row-major [rows, cols].
//
// Numerics contract (exact path). float32 activations, float32 accumulation, fused multiply-adds.
// Every (token t, output o) dot product is summed in this one order, whatever n, the thread count
// or the split of rows into [r0, r1):
//   - one 16-lane accumulator, starting at +0; column chunk c = [16c, 16c + 16) in increasing c,
//     lane j: acc[j] = fma(x[16c + j], w[16c + j], acc[j]); the last, partial chunk is loaded with
//     a mask (missing columns are 0 · 0);
//   - then the fixed tree of hsum16: lanes j + (j + 8), then + 4, + 2, + 1.
// bf16 and f16 weights are widened to float32 exactly before the fma. The decode (n < 4) and
// prefill (tiles of 4 tokens x 6 outputs) loops only change how many dot products share one pass
// over the weights, never the operations of one dot product, so a token row's result is the same
// bits in every batch (batch invariance, tested bitwise).
//
// bf16_activations path (BF16 weights only): x arrives rounded to bf16 (job.xq, rounded once by
// dispatch.cpp, round to nearest even). One 16-lane accumulator per dot product; column chunk
// c = [32c, 32c + 32), lane j: acc[j] = vdpbf16ps(acc[j], x[32c + 2j .. +1], w[32c + 2j .. +1])
// (the instruction's own fixed order for its two products, denormal inputs read as zero); the last
// chunk masked; then hsum16. Batch invariant in the same way.
//
// ODR: everything but the fill function sits in the anonymous namespace and only isa_table.h and
// C headers are included (see isa_table.h).
// GCC 12's intrinsic headers self-initialise "undefined" registers (__m512 __Y = __Y), which its own
// -Wuninitialized reports at every inlined use (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

// Sum of the 16 lanes in the fixed tree of the contract.
[[gnu::always_inline]] inline float hsum16(__m512 v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  b = _mm_add_ps(b, _mm_movehl_ps(b, b));
  b = _mm_add_ss(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(b);
}

// Weight element types: 16 columns from p widened to float32 (exactly), full or masked.
struct F32W {
  using T = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct Bf16W {
  using T = uint16_t;
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const uint16_t* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load(const uint16_t* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};
struct F16W {
  using T = uint16_t;
  static __m512 load(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};

// Operands of one register tile: T token rows of x (stride ldx), O weight rows (stride ldw), the
// T x O outputs y[t * ldy + o].
template <typename E>
struct Tile {
  const float* x;
  int64_t ldx;
  const E* w;
  int64_t ldw;
  int64_t cols;
  float* y;
  int64_t ldy;
  // Decode: the next block of weight rows, prefetched as one linear stream while this block's O
  // rows are read side by side (null: none).
  const char* next = nullptr;
};

// T tokens x O outputs, each dot product in the contract's order. Registers: T*O + T + 1 <= 32.
template <int T, int O, class W>
[[gnu::always_inline]] inline void tile(const Tile<typename W::T>& a) {
  __m512 acc[T][O];
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < O; ++o) acc[t][o] = _mm512_setzero_ps();
  const int64_t main = a.cols & ~int64_t(15);
  for (int64_t i = 0; i < main; i += 16) {
    if (a.next) {
      constexpr int kLines = O * int(sizeof(typename W::T)) / 4;
      const char* p = a.next + i * O * int64_t(sizeof(typename W::T));
      for (int l = 0; l < kLines; ++l) _mm_prefetch(p + 64 * l, _MM_HINT_T2);
    }
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(a.x + t * a.ldx + i);
    for (int o = 0; o < O; ++o) {
      const __m512 wv = W::load(a.w + o * a.ldw + i);
      for (int t = 0; t < T; ++t) acc[t][o] = _mm512_fmadd_ps(xv[t], wv, acc[t][o]);
    }
  }
  if (main < a.cols) {
    const __mmask16 m = __mmask16((1u << (a.cols - main)) - 1);
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_maskz_loadu_ps(m, a.x + t * a.ldx + main);
    for (int o = 0; o < O; ++o) {
      const __m512 wv = W::load(a.w + o * a.ldw + main, m);
      for (int t = 0; t < T; ++t) acc[t][o] = _mm512_fmadd_ps(xv[t], wv, acc[t][o]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < O; ++o) a.y[t * a.ldy + o] = hsum16(acc[t][o]);
}

// bf16 x bf16 tile (vdpbf16ps); x is bf16 [.., ldx].
template <int T, int O>
[[gnu::always_inline]] inline void tile_dp(const uint16_t* x, int64_t ldx, const uint16_t* w, int64_t ldw, int64_t cols,
                                           float* y, int64_t ldy, const char* next) {
  __m512 acc[T][O];
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < O; ++o) acc[t][o] = _mm512_setzero_ps();
  const int64_t main = cols & ~int64_t(31);
  for (int64_t i = 0; i < main; i += 32) {
    if (next)  // as in tile(): the next block of rows, one line per row and step
      for (int l = 0; l < O; ++l) _mm_prefetch(next + (i * O + 32 * l) * 2, _MM_HINT_T2);
    __m512i xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_si512(x + t * ldx + i);
    for (int o = 0; o < O; ++o) {
      const __m512i wv = _mm512_loadu_si512(w + o * ldw + i);
      for (int t = 0; t < T; ++t) acc[t][o] = _mm512_dpbf16_ps(acc[t][o], __m512bh(xv[t]), __m512bh(wv));
    }
  }
  if (main < cols) {
    const __mmask32 m = _bzhi_u32(~0u, unsigned(cols - main));
    __m512i xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_maskz_loadu_epi16(m, x + t * ldx + main);
    for (int o = 0; o < O; ++o) {
      const __m512i wv = _mm512_maskz_loadu_epi16(m, w + o * ldw + main);
      for (int t = 0; t < T; ++t) acc[t][o] = _mm512_dpbf16_ps(acc[t][o], __m512bh(xv[t]), __m512bh(wv));
    }
  }
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < O; ++o) y[t * ldy + o] = hsum16(acc[t][o]);
}

// Tile shapes. Decode (n < kTok): all n tokens against kDecodeRows weight rows per pass, so each
// weight byte is read once, with kDecodeRows independent FMA chains; the next block of rows is
// prefetched into L2 as one linear stream (measured here: reading 8 rows side by side without it
// gets ~half the bandwidth of one linear stream). Prefill: kTok x kRows register
// tiles, over token blocks whose x rows stay in L2 while a block of weight rows passes.
constexpr int kTok = 4, kRows = 6, kDecodeRows = 8;
constexpr int64_t kXBlockBytes = 256 << 10;

// The tile entry for T tokens (1..4) and O rows, as one function pointer type per element type.
template <class K>
using TileFn = void (*)(const K& a);

template <int T, int O, class W>
void tile_fn(const Tile<typename W::T>& a) { tile<T, O, W>(a); }

// Dot products of tokens [t0, t1) with O weight rows starting at w, in tiles of kTok tokens.
template <int O, class W>
void run_tokens(Tile<typename W::T> a, int64_t t0, int64_t t1) {
  static constexpr TileFn<Tile<typename W::T>> tail[kTok] = {nullptr, tile_fn<1, O, W>, tile_fn<2, O, W>,
                                                             tile_fn<3, O, W>};
  const float* x0 = a.x;
  float* y0 = a.y;
  int64_t t = t0;
  for (; t + kTok <= t1; t += kTok) {
    a.x = x0 + t * a.ldx, a.y = y0 + t * a.ldy;
    tile<kTok, O, W>(a);
    a.next = nullptr;  // only the first tile streams the rows from memory; it prefetches the next ones
  }
  if (t < t1) {
    a.x = x0 + t * a.ldx, a.y = y0 + t * a.ldy;
    tail[t1 - t](a);
  }
}

template <class W>
void matmul_rows(const MatmulJob& job, int64_t r0, int64_t r1) {
  using E = typename W::T;
  const E* w = static_cast<const E*>(job.w);
  const int64_t n = job.n, rows = job.rows, cols = job.cols;
  const Tile<E> base{job.x, cols, w, cols, cols, job.y, rows};
  auto at = [&](int64_t o) {
    Tile<E> a = base;
    a.w = w + o * cols, a.y = job.y + o;
    return a;
  };
  if (n < kTok) {  // decode
    int64_t o = r0;
    for (; o + kDecodeRows <= r1; o += kDecodeRows) {
      Tile<E> a = at(o);
      a.next = reinterpret_cast<const char*>(w + (o + kDecodeRows) * cols);
      run_tokens<kDecodeRows, W>(a, 0, n);
    }
    for (; o < r1; ++o) run_tokens<1, W>(at(o), 0, n);
    return;
  }
  int64_t tb = kXBlockBytes / (cols * 4) / kTok * kTok;
  if (tb < 4 * kTok) tb = 4 * kTok;
  for (int64_t b0 = 0; b0 < n; b0 += tb) {
    const int64_t b1 = b0 + tb < n ? b0 + tb : n;
    int64_t o = r0;
    for (; o + kRows <= r1; o += kRows) {
      // The first token tile prefetches the next kRows rows (a batch of a few decodes is as
      // memory-bound as one: without it, 4 tokens ran at half the speed of 1).
      Tile<E> a = at(o);
      if (o + 2 * kRows <= r1) a.next = reinterpret_cast<const char*>(w + (o + kRows) * cols);
      run_tokens<kRows, W>(a, b0, b1);
    }
    for (; o < r1; ++o) run_tokens<1, W>(at(o), b0, b1);
  }
}

// --- bf16_activations: x already rounded to bf16 in job.xq ---

template <int T, int O>
void tile_dp_fn(const uint16_t* x, int64_t ldx, const uint16_t* w, int64_t ldw, int64_t cols, float* y, int64_t ldy,
                const char* next) {
  tile_dp<T, O>(x, ldx, w, ldw, cols, y, ldy, next);
}

template <int O>
void run_tokens_dp(const uint16_t* x, const uint16_t* w, int64_t cols, float* y, int64_t ldy, int64_t t0, int64_t t1,
                   const char* next = nullptr) {
  using Fn = void (*)(const uint16_t*, int64_t, const uint16_t*, int64_t, int64_t, float*, int64_t, const char*);
  static constexpr Fn tail[kTok] = {nullptr, tile_dp_fn<1, O>, tile_dp_fn<2, O>, tile_dp_fn<3, O>};
  int64_t t = t0;
  for (; t + kTok <= t1; t += kTok, next = nullptr)  // as in run_tokens: the first tile prefetches
    tile_dp<kTok, O>(x + t * cols, cols, w, cols, cols, y + t * ldy, ldy, next);
  if (t < t1) tail[t1 - t](x + t * cols, cols, w, cols, cols, y + t * ldy, ldy, next);
}

void matmul_bf16_dp(const MatmulJob& job, int64_t r0, int64_t r1) {
  const uint16_t* x = static_cast<const uint16_t*>(job.xq);
  const uint16_t* w = static_cast<const uint16_t*>(job.w);
  const int64_t n = job.n, rows = job.rows, cols = job.cols;
  if (n < kTok) {
    int64_t o = r0;
    for (; o + kDecodeRows <= r1; o += kDecodeRows)
      run_tokens_dp<kDecodeRows>(x, w + o * cols, cols, job.y + o, rows, 0, n,
                                 reinterpret_cast<const char*>(w + (o + kDecodeRows) * cols));
    for (; o < r1; ++o) run_tokens_dp<1>(x, w + o * cols, cols, job.y + o, rows, 0, n);
    return;
  }
  int64_t tb = kXBlockBytes / (cols * 2) / kTok * kTok;
  if (tb < 4 * kTok) tb = 4 * kTok;
  for (int64_t b0 = 0; b0 < n; b0 += tb) {
    const int64_t b1 = b0 + tb < n ? b0 + tb : n;
    int64_t o = r0;
    for (; o + kRows <= r1; o += kRows)
      run_tokens_dp<kRows>(x, w + o * cols, cols, job.y + o, rows, b0, b1,
                           o + 2 * kRows <= r1 ? reinterpret_cast<const char*>(w + (o + kRows) * cols) : nullptr);
    for (; o < r1; ++o) run_tokens_dp<1>(x, w + o * cols, cols, job.y + o, rows, b0, b1);
  }
}

void matmul_bf16(const MatmulJob& job, int64_t r0, int64_t r1) {
  if (job.bf16_activations) return matmul_bf16_dp(job, r0, r1);
  matmul_rows<Bf16W>(job, r0, r1);
}

}  // namespace

void fill_avx512_float(IsaTable& t) {
  t.matmul[0] = matmul_rows<F32W>;
  t.matmul[1] = matmul_bf16;
  t.matmul[2] = matmul_rows<F16W>;
  t.has_bf16_dot = true;
}

}  // namespace qwen3::kernels::cpu
