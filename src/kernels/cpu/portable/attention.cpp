// Portable attention partition and KV conversion: plain loops, the scalar twin of the SIMD
// versions (same blocks of positions and the same online softmax; the sums run in index order).
// Compiled without ISA flags, so it may use core/dtype.h's inline conversions.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/dtype.h"
#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int64_t kBlock = 16;  // positions per online-softmax step

template <KvElem E>
float elem(const void* base, int64_t i) {
  if constexpr (E == KvElem::F32) {
    return static_cast<const float*>(base)[i];
  } else {
    uint16_t h;
    std::memcpy(&h, static_cast<const char*>(base) + 2 * i, 2);
    return E == KvElem::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
  }
}

template <KvElem E>
void part(const AttentionPart& j, float* state) {
  const int64_t D = j.head_dim, sd = j.state_stride, dp = (D + 15) / 16 * 16, heads = j.num_kv_heads * j.group;
  const size_t esize = E == KvElem::F32 ? 4 : 2, token_bytes = size_t(j.num_kv_heads * D) * esize;
  for (int64_t h = 0; h < heads; ++h) {
    std::fill(state + h * sd, state + h * sd + dp, 0.0f);
    state[h * sd + dp] = -std::numeric_limits<float>::infinity();
    state[h * sd + dp + 1] = 0.0f;
  }
  const char* kp[kBlock];  // the block's token rows [num_kv_heads, head_dim]
  const char* vp[kBlock];
  float s[kBlock];
  for (int64_t b = j.p0; b < j.p1; b += kBlock) {
    const int64_t n = std::min(kBlock, j.p1 - b);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = b + i;
      const size_t off = size_t(j.block_table[p / j.page_size] * j.page_size + p % j.page_size) * token_bytes;
      kp[i] = static_cast<const char*>(j.k) + off;
      vp[i] = static_cast<const char*>(j.v) + off;
    }
    for (int64_t h = 0; h < heads; ++h) {
      const float* q = j.q + h * D;
      const size_t head_off = size_t((h / j.group) * D) * esize;
      float* acc = state + h * sd;
      float bm = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < n; ++i) {
        float d = 0;
        for (int64_t e = 0; e < D; ++e) d += q[e] * elem<E>(kp[i] + head_off, e);
        s[i] = d * j.scale;
        bm = std::max(bm, s[i]);
      }
      const float m = acc[dp], mn = std::max(m, bm);
      const float alpha = mn == m ? 1.0f : std::exp(m - mn);
      float sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += (s[i] = std::exp(s[i] - mn));
      acc[dp] = mn;
      acc[dp + 1] = acc[dp + 1] * alpha + sum;
      for (int64_t e = 0; e < D; ++e) acc[e] *= alpha;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t e = 0; e < D; ++e) acc[e] += s[i] * elem<E>(vp[i] + head_off, e);
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
  if (to == KvElem::BF16) {
    for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(x[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = f32_to_f16(x[i]);
  }
}

}  // namespace

void fill_portable_attention(IsaTable& t) {
  t.attention_part = attention_part;
  t.convert_f32 = convert_f32;
}

}  // namespace qwen3::kernels::cpu
