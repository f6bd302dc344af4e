// Portable attention partition and KV conversion: plain loops, the scalar twin of the SIMD
// versions (the partition walk of cpu/attention_partition.inc in the same blocks of 16 positions
// and the same online softmax; the sums run in index order, exp is std::exp).
// Compiled without ISA flags, so it may use core/dtype.h's inline conversions.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

#include "kernels/cpu/attention_partition.inc"

constexpr int kBlock = 16;  // positions per online-softmax step

template <KvElem E>
float elem(const void* base, int64_t i) {
  if constexpr (E == KvElem::F32) {
    return static_cast<const float*>(base)[i];
  } else if constexpr (kv_quantized(E)) {  // code * block scale (isa_table.h)
    const uint8_t c = static_cast<const uint8_t*>(base)[i];
    const float s = f16_to_f32(scale_bits<E>(base, i));
    return (E == KvElem::FP8 ? e4m3_to_f32(c) : float(int8_t(c))) * s;
  } else {
    uint16_t h;
    std::memcpy(&h, static_cast<const char*>(base) + 2 * i, 2);
    return E == KvElem::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
  }
}

// One block of n positions for the query heads of KV head kvh, one head at a time.
struct ScalarBlock {
  static constexpr int kMaxRows = 1;
  static constexpr int kWidenPairs = 0;  // never (attention_partition.inc)
  template <KvElem E>
  static void run(const AttentionPart& j, const void* const* kh, const void* const* vh, int n, int64_t kvh, float* st,
                  int /*rows: always 1*/) {
    const int64_t D = j.head_dim, dp = (D + 15) / 16 * 16;
    float s[kBlock];
    for (int64_t h = kvh * j.group; h < (kvh + 1) * j.group; ++h) {
      const float* q = j.q + h * D;
      float* acc = st + h * j.state_stride;
      float bm = -__builtin_inff();
      for (int i = 0; i < n; ++i) {
        float d = 0;
        for (int64_t e = 0; e < D; ++e) d += q[e] * elem<E>(kh[i], e);
        s[i] = d * j.scale;
        bm = std::max(bm, s[i]);
      }
      const float m = acc[dp], mn = std::max(m, bm);
      const float alpha = mn == m ? 1.0f : std::exp(m - mn);
      float sum = 0;
      for (int i = 0; i < n; ++i) sum += (s[i] = std::exp(s[i] - mn));
      acc[dp] = mn;
      acc[dp + 1] = acc[dp + 1] * alpha + sum;
      for (int64_t e = 0; e < D; ++e) acc[e] *= alpha;
      for (int i = 0; i < n; ++i)
        for (int64_t e = 0; e < D; ++e) acc[e] += s[i] * elem<E>(vh[i], e);
    }
  }
};

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
  t.attention_part = attention_part<ScalarBlock, kBlock>;
  t.convert_f32 = convert_f32;
}

}  // namespace qwen3::kernels::cpu
