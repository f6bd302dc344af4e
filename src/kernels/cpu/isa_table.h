// Internal to src/kernels: the table of kernels one instruction set provides. Each ISA lives in
// its own folder (cpu/portable, cpu/avx2, cpu/avx512) whose files are compiled with that ISA's
// -m flags (CMakeLists.txt) and fill their entries of the table; dispatch.cpp picks one table per
// process. An entry an ISA leaves null falls back to the portable kernel.
//
// ODR rule for ISA translation units: they include only this header (plain structs and function
// declarations), C/C++ headers with no out-of-line inline code they instantiate (<immintrin.h>,
// <cstdint>, <cstring>, <cmath>), and put everything but their fill function in an anonymous
// namespace. An inline function or template instantiated there with external linkage would be
// compiled with AVX-512 and could be picked by the linker for every caller.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qwen3::kernels::cpu {

// One matmul call: y[n, rows] = x[n, cols] · Wᵀ, weights in the layout of WFormat (kernels.h).
struct MatmulJob {
  const float* x = nullptr;          // [n, cols] float32 activations
  const void* xq = nullptr;          // Q8 / Q4: x quantized by the table's quantize_activations
  int64_t n = 0;
  const void* w = nullptr;           // weight data
  const uint16_t* w_scales = nullptr;  // Q8 / Q4 block scales (f16)
  const float* w_block_scales = nullptr;     // FP8: float32 128 x 128 block scales (kernels.h)
  const int32_t* w_block_scale_rows = nullptr;  // FP8: optional row of w_block_scales per weight row
  int64_t rows = 0, cols = 0;
  float* y = nullptr;                // [n, rows]
  bool bf16_activations = false;     // BF16 weights: see MatmulOptions
};

// Computes output columns [r0, r1) of y for all n tokens. Called concurrently on disjoint ranges.
using MatmulFn = void (*)(const MatmulJob& job, int64_t r0, int64_t r1);

struct IsaTable {
  // Indexed by WFormat: F32, BF16, F16, Q8, Q4, FP8.
  MatmulFn matmul[6] = {};
  // Q8 / Q4 activations: bytes needed for n rows of cols, and the quantizer (rows [t0, t1) of x
  // into `out`, which quantized_bytes(n, cols) sizes; called concurrently on disjoint rows).
  size_t (*quantized_bytes)(int64_t n, int64_t cols) = nullptr;
  void (*quantize_activations)(const float* x, int64_t cols, int64_t t0, int64_t t1, int64_t n, void* out) = nullptr;
  // Whether MatmulJob::bf16_activations is honoured for BF16 (else it is ignored).
  bool has_bf16_dot = false;
};

// Each ISA folder has one fill function per kernel family (its own file).
void fill_portable_float(IsaTable& t);   // matmul F32 / BF16 / F16
void fill_portable_quant(IsaTable& t);   // matmul Q8 / Q4 and the activation quantizer
void fill_avx2_float(IsaTable& t);
void fill_avx2_quant(IsaTable& t);
void fill_avx512_float(IsaTable& t);
void fill_avx512_quant(IsaTable& t);
void fill_portable_fp8(IsaTable& t);     // matmul FP8 (e4m3 weights, float32 block scales)
void fill_avx2_fp8(IsaTable& t);
void fill_avx512_fp8(IsaTable& t);

}  // namespace qwen3::kernels::cpu
