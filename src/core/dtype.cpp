#include "core/dtype.h"
#include "core/kv_dtype.h"

#include <cmath>

namespace qwen3 {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view s) {
  if (s == "F32") return DType::F32;
  if (s == "BF16") return DType::BF16;
  if (s == "F16") return DType::F16;
  return std::nullopt;
}

std::optional<DType> parse_dtype_name(std::string_view s) {
  if (s == "f32" || s == "float32") return DType::F32;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  if (s == "f16" || s == "float16") return DType::F16;
  return std::nullopt;
}

std::string_view kv_dtype_name(KvDType t) {
  switch (t) {
    case KvDType::F32: return "f32";
    case KvDType::BF16: return "bf16";
    case KvDType::F16: return "f16";
    case KvDType::Q8: return "q8";
    case KvDType::Q8Head: return "q8-head";
    case KvDType::FP8: return "fp8";
  }
  return "?";
}

std::optional<KvDType> parse_kv_dtype_name(std::string_view s) {
  if (s == "q8") return KvDType::Q8;
  if (s == "q8-head") return KvDType::Q8Head;
  if (s == "fp8") return KvDType::FP8;
  if (auto d = parse_dtype_name(s)) return kv_dtype_of(*d);
  return std::nullopt;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;  // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (a < 0x38800000u) {                        // below the smallest normal 2^-14: subnormal or 0
    // value / 2^-24, rounded to nearest even
    float v = std::fabs(f) * 16777216.0f;
    float r = std::nearbyint(v);  // default rounding mode: to nearest even
    return sign | uint16_t(r);
  }
  uint32_t exp = (a >> 23) - 112;
  uint32_t man = a & 0x7fffffu;
  uint32_t h = (exp << 10) | (man >> 13);
  uint32_t rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h += 1;  // may carry into the exponent: fine
  return sign | uint16_t(h);
}

uint8_t f32_to_e4m3(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint8_t sign = uint8_t((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7fu;  // NaN
  // 464 = 448 + half a step (32 / 2): at and above it the nearest even is 480, past the range.
  if (a >= 0x43e80000u) return sign | 0x7eu;  // >= 464 (incl. inf): saturate to 448
  if (a < 0x3c800000u) {                     // below 2^-6, the smallest normal: subnormal or zero
    // value / 2^-9 rounded to nearest even (exact scaling by a power of two, then one rounding)
    const float r = std::nearbyint(std::fabs(f) * 512.0f);
    return sign | uint8_t(r);  // r == 8 is the smallest normal, which is also code 8
  }
  const uint32_t exp = (a >> 23) - 120;  // 1 .. 15
  const uint32_t man = a & 0x7fffffu;
  uint32_t q = (exp << 3) | (man >> 20);
  const uint32_t rest = man & 0xfffffu;
  if (rest > 0x80000u || (rest == 0x80000u && (q & 1u))) q += 1;  // may carry into the exponent
  if (q > 0x7eu) q = 0x7eu;  // [448, 464) rounds to 448 (480 would need q = 0x7F, the NaN code)
  return sign | uint8_t(q);
}

}  // namespace qwen3
