// Element types of stored tensors and the scalar conversions between them.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace qwen3 {

enum class DType : uint8_t { F32, BF16, F16 };

constexpr size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
std::string_view dtype_name(DType t);  // safetensors spelling: "F32", "BF16", "F16"
// Parses a safetensors dtype string; nullopt for types this engine does not compute with.
std::optional<DType> parse_dtype(std::string_view s);
// Parses a user-facing name: "f32", "float32", "bf16", "bfloat16", "f16", "float16".
std::optional<DType> parse_dtype_name(std::string_view s);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, as torch's .to(torch.bfloat16); NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// Exact: every f16 value (normal, subnormal, inf, NaN) is representable in f32.
inline float f16_to_f32(uint16_t h) {
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  auto as_f = [](uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; };
  auto as_u = [](float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; };
  // Normal and inf/NaN: shift the exponent and mantissa into place, rebias by 2^-112.
  const float normalized = as_f((two_w >> 4) + (0xE0u << 23)) * as_f(0x7800000u);  // 0x7800000 = 2^-112
  // Subnormal: mantissa placed under an exponent of 2^-1, minus 0.5, gives man * 2^-24.
  const float denormalized = as_f((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t bits = sign | (two_w < (1u << 27) ? as_u(denormalized) : as_u(normalized));
  return as_f(bits);
}
uint16_t f32_to_f16(float f);  // round to nearest even, overflow to inf

// FP8 E4M3 ("e4m3fn" of the OCP 8-bit floating point spec, torch.float8_e4m3fn, safetensors
// F8_E4M3): sign, 4 exponent bits (bias 7), 3 mantissa bits. No infinities; S.1111.111 (0x7F,
// 0xFF) is NaN; the largest finite value is 448 (S.1111.110); exponent 0 holds the subnormals
// m * 2^-9. Decoding is exact (every code is a float32).
inline float e4m3_to_f32(uint8_t b) {
  const uint32_t sign = uint32_t(b & 0x80u) << 24, mag = b & 0x7fu;
  uint32_t u;
  if (mag == 0x7fu) {
    u = sign | 0x7fc00000u;  // NaN
  } else if (mag >= 8) {     // normal: rebias the exponent from 7 to 127
    u = sign | ((mag >> 3) + 120u) << 23 | (mag & 7u) << 20;
  } else {                   // zero or subnormal: m * 2^-9, exact in float32
    float f = float(mag) * 0.001953125f;
    std::memcpy(&u, &f, 4);
    u |= sign;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even; magnitudes beyond 448 saturate to ±448 (what clamping before a cast to
// float8_e4m3fn gives); ±inf saturates too; NaN gives 0x7F with its sign.
uint8_t f32_to_e4m3(float f);

}  // namespace qwen3
