// q8 / q4 matmul for avx512: the shared 256-bit kernel of cpu/matmul_quant_simd.inc with VNNI
// dot products (vpdpbusd), on row-major weights. A loaded model's weights are in row groups
// instead (kernels.h, WeightView::row_group), computed by matmul_quant_rows8.cpp.
// The activation quantizer stays the portable one, so every ISA sees the same integers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>

#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {
constexpr bool kVnni = true;
// Register tiles (tokens x rows): prefill, decode (n < kTok).
constexpr int kTok = 4, kRows = 4, kDecodeRows = 8;
#include "kernels/cpu/matmul_quant_simd.inc"
}  // namespace

void fill_avx512_quant(IsaTable& t) {
  t.matmul[3] = matmul_quant<false>;
  t.matmul[4] = matmul_quant<true>;
}

}  // namespace qwen3::kernels::cpu
