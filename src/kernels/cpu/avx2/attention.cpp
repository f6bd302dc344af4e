// AVX2 attention partition and KV conversion: the AVX-512 scheme (avx512/attention.cpp) with
// 8-lane vectors and blocks of 8 positions. Head dims that are not a multiple of 8 read their last
// elements through a zero-padded copy.
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

constexpr int kBlock = 8;  // positions per online-softmax step

template <KvElem E>
inline __m256 load8(const void* p, int64_t i) {
  if constexpr (E == KvElem::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
    if constexpr (E == KvElem::BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    else return _mm256_cvtph_ps(h);
  }
}
// The c < 8 elements from element i, the other lanes 0.
template <KvElem E>
inline __m256 load8_tail(const void* p, int64_t i, int64_t c) {
  constexpr size_t esize = E == KvElem::F32 ? 4 : 2;
  alignas(32) unsigned char buf[32] = {};
  std::memcpy(buf, static_cast<const unsigned char*>(p) + size_t(i) * esize, size_t(c) * esize);
  return load8<E>(buf, 0);
}

// exp(x) for x <= 0, Cephes' expf polynomial (about 1 ulp); x below -87.3 gives ~1e-38, not 0.
inline __m256 exp_nonpositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.33654f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // n >= -126: 2^n is a normal float, built in the exponent field.
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// Lane i of the result = the sum of the 8 lanes of v[i].
inline __m256 transpose_sum8(const __m256* v) {
  const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
  const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
  // a: lanes 0-3 the low-half sums of v[0..3], lanes 4-7 their high-half sums; b: the same for v[4..7].
  return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// dots[g][i0 + r] = q_g · k_{i0 + r} for NG heads and R rows from kp[i0] (see avx512/attention.cpp);
// qt holds the heads' last D % 8 elements zero-padded.
template <KvElem E, int NG, int R>
inline void dot_rows(const AttentionPart& j, const float* q, const __m256* qt, const void* const* kp, int i0,
                     __m256 (*dots)[kBlock]) {
  const int64_t D = j.head_dim, full = D / 8 * 8;
  __m256 a[NG][R];
  for (int g = 0; g < NG; ++g)
    for (int r = 0; r < R; ++r) a[g][r] = _mm256_setzero_ps();
  for (int64_t e = 0; e < full; e += 8) {
    __m256 kv[R];
    for (int r = 0; r < R; ++r) kv[r] = load8<E>(kp[i0 + r], e);
    for (int g = 0; g < NG; ++g) {
      const __m256 qv = _mm256_loadu_ps(q + g * D + e);
      for (int r = 0; r < R; ++r) a[g][r] = _mm256_fmadd_ps(qv, kv[r], a[g][r]);
    }
  }
  if (full < D) {
    for (int r = 0; r < R; ++r) {
      const __m256 kv = load8_tail<E>(kp[i0 + r], full, D - full);
      for (int g = 0; g < NG; ++g) a[g][r] = _mm256_fmadd_ps(qt[g], kv, a[g][r]);
    }
  }
  for (int g = 0; g < NG; ++g)
    for (int r = 0; r < R; ++r) dots[g][i0 + r] = a[g][r];
}

// s[g * 8 + i] = scale * q_g · k_i for NG heads and the n <= 8 rows kp (lanes past n: 0).
template <KvElem E, int NG>
inline void scores(const AttentionPart& j, const float* q, const void* const* kp, int n, float* s) {
  const int64_t D = j.head_dim, full = D / 8 * 8;
  __m256 dots[NG][kBlock];
  __m256 qt[NG];
  if (full < D)
    for (int g = 0; g < NG; ++g) qt[g] = load8_tail<KvElem::F32>(q + g * D, full, D - full);
  int i = 0;
  for (; i + 4 <= n; i += 4) dot_rows<E, NG, 4>(j, q, qt, kp, i, dots);
  for (; i < n; ++i) dot_rows<E, NG, 1>(j, q, qt, kp, i, dots);
  for (; i < kBlock; ++i)
    for (int g = 0; g < NG; ++g) dots[g][i] = _mm256_setzero_ps();
  for (int g = 0; g < NG; ++g)
    _mm256_storeu_ps(s + g * kBlock, _mm256_mul_ps(transpose_sum8(dots[g]), _mm256_set1_ps(j.scale)));
}

// acc_g[e0, e0 + 8 C) = alpha_g acc_g + sum_i p[g * 8 + i] v_i for NG heads (acc_g at st + g * sd),
// C vectors at a time; `full`: all C vectors lie within head_dim.
template <KvElem E, int NG, int C>
inline void weighted_chunk(const AttentionPart& j, const void* const* vp, int n, const float* p, const float* alpha,
                           float* st, int64_t e0) {
  const int64_t D = j.head_dim, sd = j.state_stride;
  __m256 a[NG][C];
  for (int g = 0; g < NG; ++g)
    for (int c = 0; c < C; ++c)
      a[g][c] = _mm256_mul_ps(_mm256_loadu_ps(st + g * sd + e0 + 8 * c), _mm256_set1_ps(alpha[g]));
  for (int i = 0; i < n; ++i) {
    __m256 vv[C];
    for (int c = 0; c < C; ++c) {
      const int64_t e = e0 + 8 * c;
      vv[c] = D - e >= 8 ? load8<E>(vp[i], e) : load8_tail<E>(vp[i], e, D - e);
    }
    for (int g = 0; g < NG; ++g) {
      const __m256 pb = _mm256_set1_ps(p[g * kBlock + i]);
      for (int c = 0; c < C; ++c) a[g][c] = _mm256_fmadd_ps(pb, vv[c], a[g][c]);
    }
  }
  for (int g = 0; g < NG; ++g)
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(st + g * sd + e0 + 8 * c, a[g][c]);
}

template <KvElem E, int NG>
inline void weighted_sum(const AttentionPart& j, const void* const* vp, int n, const float* p, const float* alpha,
                         float* st) {
  const int64_t D = j.head_dim;
  int64_t e = 0;
  for (; e + 32 <= D; e += 32) weighted_chunk<E, NG, 4>(j, vp, n, p, alpha, st, e);
  for (; e < D; e += 8) weighted_chunk<E, NG, 1>(j, vp, n, p, alpha, st, e);
}

// One block of n positions for NG heads: scores, online-softmax update of (m, l), weighted sum.
template <KvElem E, int NG>
void block(const AttentionPart& j, const float* q, float* st, const void* const* kp, const void* const* vp, int n) {
  const int64_t sd = j.state_stride, dp = (j.head_dim + 15) / 16 * 16;
  alignas(32) float s[NG * kBlock];
  float alpha[NG];
  scores<E, NG>(j, q, kp, n, s);
  const __m256 valid = _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  for (int g = 0; g < NG; ++g) {
    float* a = st + g * sd;
    const __m256 sv = _mm256_load_ps(s + g * kBlock);
    const float m = a[dp], bm = hmax8(_mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), sv, valid));
    const float mn = m > bm ? m : bm;
    alpha[g] = mn == m ? 1.0f : std::exp(m - mn);
    const __m256 pv = _mm256_and_ps(valid, exp_nonpositive(_mm256_sub_ps(sv, _mm256_set1_ps(mn))));
    a[dp + 1] = a[dp + 1] * alpha[g] + hsum8(pv);
    a[dp] = mn;
    _mm256_store_ps(s + g * kBlock, pv);
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

// 8 floats to 8 bf16 / f16 bit patterns (round to nearest even, NaN canonical as core/dtype.h).
inline __m128i narrow8(__m256 v, KvElem to) {
  const __m256i u = _mm256_castps_si256(v), hi = _mm256_srli_epi32(u, 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  __m256i r;
  if (to == KvElem::BF16) {
    r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(hi, _mm256_set1_epi32(1))));
    r = _mm256_blendv_epi8(_mm256_srli_epi32(r, 16), _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
  } else {
    const __m256i h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i canon = _mm256_or_si256(_mm256_and_si256(hi, _mm256_set1_epi32(0x8000)), _mm256_set1_epi32(0x7e00));
    r = _mm256_blendv_epi8(h, canon, nan);
  }
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

void convert_f32(const float* x, int64_t n, KvElem to, void* out) {
  if (to == KvElem::F32) {
    std::memcpy(out, x, size_t(n) * 4);
    return;
  }
  uint16_t* o = static_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i), narrow8(_mm256_loadu_ps(x + i), to));
  if (i < n) {
    alignas(16) uint16_t buf[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(buf), narrow8(load8_tail<KvElem::F32>(x, i, n - i), to));
    std::memcpy(o + i, buf, size_t(n - i) * 2);
  }
}

}  // namespace

void fill_avx2_attention(IsaTable& t) {
  t.attention_part = attention_part;
  t.convert_f32 = convert_f32;
}

}  // namespace qwen3::kernels::cpu
