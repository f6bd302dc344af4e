// AVX-512 attention partition and KV conversion. Blocks of 16 positions: the dot products of a
// block are reduced into one vector of 16 scores, softmax runs on that vector, and each K or V row
// is loaded (and widened from bf16 / f16) once for up to 4 query heads of the GQA group.
// ODR: see isa_table.h; everything but the fill function is in the anonymous namespace.
// GCC 12 warns inside its own intrinsic headers (their _mm*_undefined_* placeholders, GCC bug
// 105593, fixed in 13): silenced for this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int kBlock = 16;  // positions per online-softmax step

template <KvElem E>
inline __m512 widen(__m256i h) {
  if constexpr (E == KvElem::BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  else return _mm512_cvtph_ps(h);
}

// 16 elements from element i of p, widened to float32; the _tail form reads only the lanes of m
// (the others are 0).
template <KvElem E>
inline __m512 load16(const void* p, int64_t i) {
  if constexpr (E == KvElem::F32) return _mm512_loadu_ps(static_cast<const float*>(p) + i);
  else return widen<E>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i)));
}
template <KvElem E>
inline __m512 load16_tail(const void* p, int64_t i, __mmask16 m) {
  if constexpr (E == KvElem::F32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  else return widen<E>(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
}

// exp(x) for x <= 0, Cephes' expf polynomial (about 1 ulp); x below -87.3 gives ~1e-38, not 0.
inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.33654f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(y, n);
}

// Lane i of the result = the sum of the 16 lanes of v[i]. Four levels; at each, pairs of vectors
// holding P positions in segments of 16 / P lanes fold into one holding 2P positions.
inline __m512 transpose_sum16(__m512* v) {
  const __m512i lo[4] = {
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
      _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27),
      _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29),
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)};
  const int half[4] = {8, 4, 2, 1};
  int count = 16;
  for (int level = 0; level < 4; ++level) {
    const __m512i hi = _mm512_add_epi32(lo[level], _mm512_set1_epi32(half[level]));
    for (int i = 0; i < count / 2; ++i)
      v[i] = _mm512_add_ps(_mm512_permutex2var_ps(v[2 * i], lo[level], v[2 * i + 1]),
                           _mm512_permutex2var_ps(v[2 * i], hi, v[2 * i + 1]));
    count /= 2;
  }
  return v[0];
}

// dots[g][i0 + r] = q_g · k_{i0 + r} for NG heads and R rows from kp[i0]. R rows at a time give
// NG * R independent FMA chains and load each q vector once for the R rows; the sum for one
// (head, row) runs in the same order whatever R, so the bits do not depend on R.
template <KvElem E, int NG, int R>
inline void dot_rows(const AttentionPart& j, const float* q, const void* const* kp, int i0, __m512 (*dots)[kBlock]) {
  const int64_t D = j.head_dim, full = D / 16 * 16;
  __m512 a[NG][R];
  for (int g = 0; g < NG; ++g)
    for (int r = 0; r < R; ++r) a[g][r] = _mm512_setzero_ps();
  int64_t e = 0;
  for (; e < full; e += 16) {
    __m512 kv[R];
    for (int r = 0; r < R; ++r) kv[r] = load16<E>(kp[i0 + r], e);
    for (int g = 0; g < NG; ++g) {
      const __m512 qv = _mm512_loadu_ps(q + g * D + e);
      for (int r = 0; r < R; ++r) a[g][r] = _mm512_fmadd_ps(qv, kv[r], a[g][r]);
    }
  }
  if (e < D) {
    const __mmask16 tm = __mmask16((1u << (D - e)) - 1);
    __m512 kv[R];
    for (int r = 0; r < R; ++r) kv[r] = load16_tail<E>(kp[i0 + r], e, tm);
    for (int g = 0; g < NG; ++g) {
      const __m512 qv = _mm512_maskz_loadu_ps(tm, q + g * D + e);
      for (int r = 0; r < R; ++r) a[g][r] = _mm512_fmadd_ps(qv, kv[r], a[g][r]);
    }
  }
  for (int g = 0; g < NG; ++g)
    for (int r = 0; r < R; ++r) dots[g][i0 + r] = a[g][r];
}

// s[g * 16 + i] = scale * q_g · k_i for NG heads and the n <= 16 rows kp (lanes past n: 0).
template <KvElem E, int NG>
inline void scores(const AttentionPart& j, const float* q, const void* const* kp, int n, float* s) {
  __m512 dots[NG][kBlock];
  int i = 0;
  for (; i + 4 <= n; i += 4) dot_rows<E, NG, 4>(j, q, kp, i, dots);
  for (; i < n; ++i) dot_rows<E, NG, 1>(j, q, kp, i, dots);
  for (; i < kBlock; ++i)
    for (int g = 0; g < NG; ++g) dots[g][i] = _mm512_setzero_ps();
  for (int g = 0; g < NG; ++g)
    _mm512_storeu_ps(s + g * kBlock, _mm512_mul_ps(transpose_sum16(dots[g]), _mm512_set1_ps(j.scale)));
}

// acc_g[e0, e0 + 16 C) = alpha_g acc_g + sum_i p[g * 16 + i] v_i for NG heads (acc_g at st + g * sd);
// lanes past head_dim read V as 0. C vectors at a time give NG * C independent FMA chains.
template <KvElem E, int NG, int C>
inline void weighted_chunk(const AttentionPart& j, const void* const* vp, int n, const float* p, const float* alpha,
                           float* st, int64_t e0) {
  const int64_t D = j.head_dim, sd = j.state_stride;
  __mmask16 m[C];
  for (int c = 0; c < C; ++c) {
    const int64_t left = D - e0 - 16 * c;
    m[c] = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
  }
  __m512 a[NG][C];
  for (int g = 0; g < NG; ++g)
    for (int c = 0; c < C; ++c)
      a[g][c] = _mm512_mul_ps(_mm512_loadu_ps(st + g * sd + e0 + 16 * c), _mm512_set1_ps(alpha[g]));
  for (int i = 0; i < n; ++i) {
    __m512 vv[C];
    for (int c = 0; c < C; ++c)
      vv[c] = m[c] == 0xffff ? load16<E>(vp[i], e0 + 16 * c) : load16_tail<E>(vp[i], e0 + 16 * c, m[c]);
    for (int g = 0; g < NG; ++g) {
      const __m512 pb = _mm512_set1_ps(p[g * kBlock + i]);
      for (int c = 0; c < C; ++c) a[g][c] = _mm512_fmadd_ps(pb, vv[c], a[g][c]);
    }
  }
  for (int g = 0; g < NG; ++g)
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(st + g * sd + e0 + 16 * c, a[g][c]);
}

template <KvElem E, int NG>
inline void weighted_sum(const AttentionPart& j, const void* const* vp, int n, const float* p, const float* alpha,
                         float* st) {
  const int64_t D = j.head_dim;
  int64_t e = 0;
  for (; e + 64 <= D; e += 64) weighted_chunk<E, NG, 4>(j, vp, n, p, alpha, st, e);
  for (; e < D; e += 16) weighted_chunk<E, NG, 1>(j, vp, n, p, alpha, st, e);
}

// One block of n positions for NG heads: scores, online-softmax update of (m, l), weighted sum.
template <KvElem E, int NG>
void block(const AttentionPart& j, const float* q, float* st, const void* const* kp, const void* const* vp, int n) {
  const int64_t sd = j.state_stride, dp = (j.head_dim + 15) / 16 * 16;
  alignas(64) float s[NG * kBlock];
  float alpha[NG];
  scores<E, NG>(j, q, kp, n, s);
  const __mmask16 valid = __mmask16((1u << n) - 1);
  for (int g = 0; g < NG; ++g) {
    float* a = st + g * sd;
    const __m512 sv = _mm512_load_ps(s + g * kBlock);
    const float m = a[dp], bm = _mm512_mask_reduce_max_ps(valid, sv), mn = m > bm ? m : bm;
    alpha[g] = mn == m ? 1.0f : std::exp(m - mn);
    const __m512 pv = _mm512_maskz_mov_ps(valid, exp_nonpositive(_mm512_sub_ps(sv, _mm512_set1_ps(mn))));
    a[dp + 1] = a[dp + 1] * alpha[g] + _mm512_reduce_add_ps(pv);
    a[dp] = mn;
    _mm512_store_ps(s + g * kBlock, pv);
  }
  weighted_sum<E, NG>(j, vp, n, s, alpha, st);
}

template <KvElem E>
void part(const AttentionPart& j, float* st) {
  const int64_t D = j.head_dim, sd = j.state_stride, dp = (D + 15) / 16 * 16, heads = j.num_kv_heads * j.group;
  const size_t esize = E == KvElem::F32 ? 4 : 2, token_bytes = size_t(j.num_kv_heads * D) * esize;
  for (int64_t h = 0; h < heads; ++h) {
    std::memset(st + h * sd, 0, size_t(dp) * sizeof(float));
    st[h * sd + dp] = -__builtin_inff();
    st[h * sd + dp + 1] = 0.0f;
  }
  const char* kp[kBlock];  // the block's token rows [num_kv_heads, head_dim]
  const char* vp[kBlock];
  const void* kh[kBlock];  // the same at one KV head
  const void* vh[kBlock];
  for (int64_t b = j.p0; b < j.p1; b += kBlock) {
    const int n = int(j.p1 - b < kBlock ? j.p1 - b : kBlock);
    for (int i = 0; i < n; ++i) {
      const int64_t p = b + i;
      const size_t off = size_t(j.block_table[p / j.page_size] * j.page_size + p % j.page_size) * token_bytes;
      kp[i] = static_cast<const char*>(j.k) + off;
      vp[i] = static_cast<const char*>(j.v) + off;
    }
    for (int64_t kvh = 0; kvh < j.num_kv_heads; ++kvh) {
      for (int i = 0; i < n; ++i) kh[i] = kp[i] + size_t(kvh * D) * esize, vh[i] = vp[i] + size_t(kvh * D) * esize;
      for (int64_t g = 0; g < j.group;) {  // the group's heads, 4, 2 or 1 at a time
        const int64_t h = kvh * j.group + g;
        const float* q = j.q + h * D;
        float* s = st + h * sd;
        if (j.group - g >= 4) block<E, 4>(j, q, s, kh, vh, n), g += 4;
        else if (j.group - g >= 2) block<E, 2>(j, q, s, kh, vh, n), g += 2;
        else block<E, 1>(j, q, s, kh, vh, n), g += 1;
      }
    }
  }
}

void attention_part(const AttentionPart& j, float* state) {
  switch (j.elem) {
    case KvElem::F32: return part<KvElem::F32>(j, state);
    case KvElem::BF16: return part<KvElem::BF16>(j, state);
    case KvElem::F16: return part<KvElem::F16>(j, state);
  }
}

void convert_f32(const float* x, int64_t n, KvElem to, void* out) {
  if (to == KvElem::F32) {
    std::memcpy(out, x, size_t(n) * 4);
    return;
  }
  uint16_t* o = static_cast<uint16_t*>(out);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512i u = _mm512_castps_si512(v), hi = _mm512_srli_epi32(u, 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if (to == KvElem::BF16) {
      // Round to nearest even: add 0x7fff plus the lowest kept bit; NaN keeps its top bits, quieted.
      const __m512i one = _mm512_set1_epi32(1);
      __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(hi, one)));
      r = _mm512_mask_mov_epi32(_mm512_srli_epi32(r, 16), nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
      _mm512_mask_cvtepi32_storeu_epi16(o + i, m, r);
    } else {
      const __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m512i canon = _mm512_or_si512(_mm512_and_si512(hi, _mm512_set1_epi32(0x8000)), _mm512_set1_epi32(0x7e00));
      _mm256_mask_storeu_epi16(o + i, m, _mm256_mask_blend_epi16(nan, h, _mm512_cvtepi32_epi16(canon)));
    }
  }
}

}  // namespace

void fill_avx512_attention(IsaTable& t) {
  t.attention_part = attention_part;
  t.convert_f32 = convert_f32;
}

}  // namespace qwen3::kernels::cpu
