// AVX2 + FMA + F16C matmul for f32 / bf16 / f16 weights: y[n, rows] = x[n, cols] · Wᵀ, W row-major
// [rows, cols].
//
// Numerics contract. float32 activations, float32 accumulation, fused multiply-adds. Every
// (token t, output o) dot product is summed in this one order, whatever n, the thread count or the
// split of rows into [r0, r1):
//   - one 8-lane accumulator, starting at +0; column chunk c = [8c, 8c + 8) in increasing c,
//     lane j: acc[j] = fma(x[8c + j], w[8c + j], acc[j]); the last, partial chunk is read with
//     the missing columns as 0 · 0;
//   - then the fixed tree of hsum8: lanes j + (j + 4), then + 2, + 1.
// bf16 and f16 weights are widened to float32 exactly before the fma. The decode (n < 3) and
// prefill (tiles of 3 tokens x 4 outputs) loops only change how many dot products share one pass
// over the weights, never the operations of one dot product, so a token row's result is the same
// bits in every batch (batch invariance, tested bitwise). The bits differ from the AVX-512 and
// portable kernels (other lane count and reduction).
//
// ODR: everything but the fill function sits in the anonymous namespace and only isa_table.h and
// C headers are included (see isa_table.h).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

[[gnu::always_inline]] inline float hsum8(__m256 v) {
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  b = _mm_add_ps(b, _mm_movehl_ps(b, b));
  b = _mm_add_ss(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(b);
}

// Lanes [0, k) all ones: the mask of a partial chunk of k < 8 columns.
[[gnu::always_inline]] inline __m256i tail_mask(int64_t k) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Weight element types: 8 columns from p widened to float32 (exactly); the tail form reads k < 8
// columns and zeroes the rest.
struct F32W {
  using T = float;
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256 load_tail(const float* p, int64_t k) { return _mm256_maskload_ps(p, tail_mask(k)); }
};
inline __m128i load_tail16(const uint16_t* p, int64_t k) {
  uint16_t buf[8] = {};
  std::memcpy(buf, p, size_t(k) * 2);
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf));
}
struct Bf16W {
  using T = uint16_t;
  static __m256 widen(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  static __m256 load(const uint16_t* p) { return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static __m256 load_tail(const uint16_t* p, int64_t k) { return widen(load_tail16(p, k)); }
};
struct F16W {
  using T = uint16_t;
  static __m256 load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static __m256 load_tail(const uint16_t* p, int64_t k) { return _mm256_cvtph_ps(load_tail16(p, k)); }
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
  // Decode: the next block of weight rows, prefetched into L2 as one linear stream while this
  // block's O rows are read side by side (null: none).
  const char* next = nullptr;
};

// T tokens x O outputs, each dot product in the contract's order. Registers: T*O + T + 1 <= 16.
template <int T, int O, class W>
[[gnu::always_inline]] inline void tile(const Tile<typename W::T>& a) {
  __m256 acc[T][O];
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < O; ++o) acc[t][o] = _mm256_setzero_ps();
  const int64_t main = a.cols & ~int64_t(7);
  for (int64_t i = 0; i < main; i += 8) {
    if (a.next) {
      constexpr int kBytes = 8 * O * int(sizeof(typename W::T));  // of the next block, per step
      const char* p = a.next + i * O * int64_t(sizeof(typename W::T));
      for (int b = 0; b < kBytes; b += 64) _mm_prefetch(p + b, _MM_HINT_T2);
    }
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(a.x + t * a.ldx + i);
    for (int o = 0; o < O; ++o) {
      const __m256 wv = W::load(a.w + o * a.ldw + i);
      for (int t = 0; t < T; ++t) acc[t][o] = _mm256_fmadd_ps(xv[t], wv, acc[t][o]);
    }
  }
  if (main < a.cols) {
    const int64_t k = a.cols - main;
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_maskload_ps(a.x + t * a.ldx + main, tail_mask(k));
    for (int o = 0; o < O; ++o) {
      const __m256 wv = W::load_tail(a.w + o * a.ldw + main, k);
      for (int t = 0; t < T; ++t) acc[t][o] = _mm256_fmadd_ps(xv[t], wv, acc[t][o]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < O; ++o) a.y[t * a.ldy + o] = hsum8(acc[t][o]);
}

// Decode (n < kTok): all n tokens against kDecodeRows weight rows per pass (each weight byte read
// once, kDecodeRows FMA chains, the next block prefetched linearly as in the AVX-512 kernel). Prefill: kTok x kRows register tiles over token blocks
// whose x rows stay in L2 while a block of weight rows passes.
constexpr int kTok = 3, kRows = 4, kDecodeRows = 6;
constexpr int64_t kXBlockBytes = 256 << 10;

template <int T, int O, class W>
void tile_fn(const Tile<typename W::T>& a) { tile<T, O, W>(a); }

// Dot products of tokens [t0, t1) with O weight rows starting at a.w, in tiles of kTok tokens.
template <int O, class W>
void run_tokens(Tile<typename W::T> a, int64_t t0, int64_t t1) {
  using Fn = void (*)(const Tile<typename W::T>&);
  static constexpr Fn tail[kTok] = {nullptr, tile_fn<1, O, W>, tile_fn<2, O, W>};
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
      // As in the AVX-512 kernel: the first token tile prefetches the next kRows rows.
      Tile<E> a = at(o);
      if (o + 2 * kRows <= r1) a.next = reinterpret_cast<const char*>(w + (o + kRows) * cols);
      run_tokens<kRows, W>(a, b0, b1);
    }
    for (; o < r1; ++o) run_tokens<1, W>(at(o), b0, b1);
  }
}

}  // namespace

void fill_avx2_float(IsaTable& t) {
  t.matmul[0] = matmul_rows<F32W>;
  t.matmul[1] = matmul_rows<Bf16W>;
  t.matmul[2] = matmul_rows<F16W>;
}

}  // namespace qwen3::kernels::cpu
