// The AVX-512 (F, BW, VL, DQ, BF16, VNNI) kernels: the drivers of cpu/simd_kernels.inc over the
// 16-lane traits of avx512/simd.inc, and the float driver's bf16 dot-product step. The q8 / q4
// kernels of the row-grouped layout are matmul_quant_rows8.cpp. The activation quantizer stays the
// portable one, so every ISA sees the same integers.
//
// bf16_activations (BF16 weights only): x arrives rounded to bf16 (job.xq, rounded once by
// dispatch.cpp, round to nearest even). One 16-lane accumulator per dot product; column chunk
// c = [32c, 32c + 32), lane j: acc[j] = vdpbf16ps(acc[j], x[32c + 2j .. +1], w[32c + 2j .. +1])
// (the instruction's own fixed order for its two products, denormal inputs read as zero); the last
// chunk masked; then Simd::hsum. Batch invariant in the same way as the float32 path.
//
// ODR: everything but the fill function sits in the anonymous namespace and only isa_table.h and
// C headers are included (see isa_table.h).
// GCC 12's intrinsic headers self-initialise "undefined" registers (__m512 __Y = __Y), which its own
// -Wuninitialized reports at every inlined use (GCC bug 105593, fixed in 13).
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
#include "kernels/cpu/avx512/simd.inc"
#include "kernels/cpu/simd_kernels.inc"

// The bf16 x bf16 step of float_matmul (vdpbf16ps): 32 columns of bf16 activations and weights.
struct Bf16Dot {
  using XT = uint16_t;
  using WT = uint16_t;
  using XV = __m512i;
  using WV = __m512i;
  static constexpr int kStep = 32;
  static const uint16_t* x_of(const MatmulJob& job) { return static_cast<const uint16_t*>(job.xq); }
  static __m512i load_x(const uint16_t* p) { return _mm512_loadu_si512(p); }
  static __m512i load_x_tail(const uint16_t* p, int64_t k) { return _mm512_maskz_loadu_epi16(_bzhi_u32(~0u, unsigned(k)), p); }
  static __m512i load_w(const uint16_t* p) { return load_x(p); }
  static __m512i load_w_tail(const uint16_t* p, int64_t k) { return load_x_tail(p, k); }
  static __m512 madd(__m512 acc, __m512i x, __m512i w) { return _mm512_dpbf16_ps(acc, __m512bh(x), __m512bh(w)); }
};
}  // namespace

void fill_avx512(IsaTable& t) {
  fill_simd_kernels(t);
  t.matmul.bf16_x_bf16 = float_matmul::matmul_rows<Bf16Dot>;
  t.matmul.bf16_x_bf16_rows8 = float_matmul::matmul_rows<Bf16Dot, true>;
}

}  // namespace qwen3::kernels::cpu
