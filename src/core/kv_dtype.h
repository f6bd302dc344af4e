// Element types of the KV cache, and the bytes one (token, KV head) takes in each.
//
// Float types store head_dim elements. The quantized types store, per (token, KV head), the block
// scales first and then head_dim one-byte codes:
//   [scale of block nb-1] ... [scale of block 0] [code 0] ... [code head_dim-1]
// scales are f16 (kv_scale_bytes each), in reverse block order, so that from a pointer to code 0
// the scale of block b is at ((const uint16_t*)codes)[-1 - b] without knowing head_dim.
//   Q8:     int8 codes, one scale per kKvQBlock (32) elements: x ≈ code * scale,
//           scale = f16(max|x| / 127).
//   Q8Head: int8 codes, one scale per (token, KV head) (blocks of head_dim).
//   FP8:    e4m3 codes, one scale per kKvQBlock elements: x ≈ e4m3(code) * scale,
//           scale = f16(max|x| / 448).
// (kernels::store_kv quantizes; kernels.h states the exact rounding.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/dtype.h"

namespace qwen3 {

enum class KvDType : uint8_t { F32, BF16, F16, Q8, Q8Head, FP8 };

// The float KV types are DType's, in DType's order.
constexpr KvDType kv_dtype_of(DType d) { return KvDType(uint8_t(d)); }
// The DType of a float KV type (F32, BF16, F16 only).
constexpr DType float_dtype_of(KvDType t) { return DType(uint8_t(t)); }
static_assert(kv_dtype_of(DType::F16) == KvDType::F16 && kv_dtype_of(DType::BF16) == KvDType::BF16);

constexpr int64_t kKvQBlock = 32;
constexpr size_t kKvScaleBytes = 2;

constexpr bool kv_quantized(KvDType t) { return t == KvDType::Q8 || t == KvDType::Q8Head || t == KvDType::FP8; }
// Scales per (token, KV head): 0 for float types.
constexpr int64_t kv_scales_per_head(KvDType t, int64_t head_dim) {
  return !kv_quantized(t) ? 0 : t == KvDType::Q8Head ? 1 : (head_dim + kKvQBlock - 1) / kKvQBlock;
}
// Bytes before code 0 of a head (its scales).
constexpr size_t kv_scale_prefix_bytes(KvDType t, int64_t head_dim) {
  return size_t(kv_scales_per_head(t, head_dim)) * kKvScaleBytes;
}
// Bytes of one (token, KV head), scales included.
constexpr size_t kv_head_bytes(KvDType t, int64_t head_dim) {
  const size_t codes = size_t(head_dim) * (t == KvDType::F32 ? 4 : kv_quantized(t) ? 1 : 2);
  return codes + kv_scale_prefix_bytes(t, head_dim);
}
// "f32", "bf16", "f16", "q8", "q8-head", "fp8"
std::string_view kv_dtype_name(KvDType t);
// The names above, and "float32", "bfloat16", "float16".
std::optional<KvDType> parse_kv_dtype_name(std::string_view s);

}  // namespace qwen3
