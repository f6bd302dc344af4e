// The AVX2 (+ FMA, F16C) kernels: the drivers of cpu/simd_kernels.inc over the 8-lane traits of
// avx2/simd.inc. The activation quantizer stays the portable one, so every ISA sees the same
// integers.
// ODR: everything but the fill function sits in the anonymous namespace and only isa_table.h and
// C headers are included (see isa_table.h).
// GCC 12 warns inside its own intrinsic headers (their _mm*_undefined_* placeholders, GCC bug
// 105593, fixed in 13): silenced for this file only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {
#include "kernels/cpu/avx2/simd.inc"
#include "kernels/cpu/simd_kernels.inc"
}  // namespace

void fill_avx2(IsaTable& t) { fill_simd_kernels(t); }

}  // namespace qwen3::kernels::cpu
