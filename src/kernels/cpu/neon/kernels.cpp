// The NEON (AArch64 Advanced SIMD) kernels: the drivers of cpu/simd_kernels.inc over the 4-lane
// traits of neon/simd.inc. Built on AArch64 only (CMakeLists.txt); q8 / q4 stay portable.
// ODR: everything but the fill function sits in the anonymous namespace (see isa_table.h).
#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {
#include "kernels/cpu/neon/simd.inc"
#include "kernels/cpu/simd_kernels.inc"
}  // namespace

void fill_neon(IsaTable& t) { fill_simd_kernels(t); }

}  // namespace qwen3::kernels::cpu
