// Internal to src/kernels: the table of kernels one instruction set provides. Each ISA lives in
// its own folder (cpu/portable, cpu/avx2, cpu/avx512, cpu/neon) whose files are compiled with that
// ISA's -m flags (CMakeLists.txt) and fill their entries of the table; dispatch.cpp picks one
// table per process. An entry an ISA leaves null falls back to the portable kernel.
//
// The SIMD kernels are written once per algorithm as drivers over a small traits struct `Simd`
// (vector type and width, loads, fma, fixed-tree reductions; <isa>/simd.inc): attention_simd.inc,
// matmul_float_simd.inc, matmul_fp8_simd.inc. An ISA's files are its traits and the instantiations
// (tile shapes and fill functions). matmul_quant_simd.inc is the x86 256-bit integer driver shared
// by AVX2 and AVX-512. Each driver states its order of operations: the bits of a result depend on
// the ISA (its lane count and reduction tree) and never on the batch.
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

// The row-grouped float layout (kernels.h, kRowGroup and kFloatGroupCols; dispatch.cpp checks that
// they agree): groups of 8 rows, each row's columns in runs of 32 elements, 8 runs (one per row of
// the group) per 32 columns.
constexpr int64_t kGroupRows = 8, kGroupCols = 32;

// One matmul call: y[n, rows] = x[n, cols] · Wᵀ, weights in the layout of WFormat (kernels.h).
struct MatmulJob {
  const float* x = nullptr;          // [n, cols] float32 activations
  const void* xq = nullptr;          // Q8 / Q4: x quantized by the table's quantize_activations;
                                     // BF16 with bf16_activations: x rounded to bf16, [n, cols]
  const float* xs = nullptr;         // Q8 / Q4: the block scales of xq, [n, ceil(cols / 32)]
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

// Element type of the KV cache (the same order as qwen3::KvDType, core/kv_dtype.h, which these
// files cannot include: its inline functions would be compiled with the ISA's flags). A (token, KV
// head) of a quantized type is its f16 block scales, last block first, then head_dim one-byte
// codes; the scale of block b (kKvQBlock = 32 elements, or the whole head for Q8Head) sits at
// ((const uint16_t*)codes)[-1 - b].
enum class KvElem : uint8_t { F32, BF16, F16, Q8, Q8Head, FP8 };
// The most block scales of one quantized (token, KV head) the attention kernels take, so head_dim
// <= 32 * 32 with q8 / fp8 (they convert a block of positions' scales into a fixed table;
// kernels::attention checks it).
constexpr int64_t kMaxKvScales = 32;

// One attention partition for a tile of nrows consecutive query rows of one sequence: all query
// heads of row i against positions [p0, min(p1 + i, p_cap)) of every KV head (p1 > p0), reduced
// with online softmax in blocks of positions that start at p0. Each block's K and V rows are read
// once for all the rows (attention.cpp). p0 is a multiple of the partition size, so the blocks a
// position falls in depend on the position only, never on the batch or the tile: a row gets the
// same calls in the same order whatever rows share its tile, which keeps attention batch invariant.
struct AttentionPart {
  const float* q = nullptr;      // row 0: [num_kv_heads * group, head_dim]: query head h reads KV head h / group
  int64_t q_row_stride = 0;      // floats from one row's q to the next
  int64_t nrows = 1;
  int64_t num_kv_heads = 0, group = 0, head_dim = 0;
  float scale = 1.0f;
  KvElem elem = KvElem::F32;
  const void* k = nullptr;       // this layer's K and V, [pages, page_size, num_kv_heads, head bytes]:
  const void* v = nullptr;       //   position p at row block_table[p / page_size] * page_size + p % page_size
  int64_t page_size = 0;
  const int32_t* block_table = nullptr;
  int64_t p0 = 0, p1 = 0;        // p0 < p1: row 0's end
  int64_t p_cap = 0;             // no row reads past it (>= p1)
  int64_t state_stride = 0;      // floats per head in `state`, >= dp + 2 (dp below)
  int64_t state_row_stride = 0;  // floats from one row's state to the next
};
// The partial result of one partition, per row i and query head h at state + i * state_row_stride +
// h * state_stride, with
// dp = round_up(head_dim, 16): acc[0, dp) = sum_p exp(s_p - m) v_p (lanes past head_dim are 0),
// then at dp the maximum m of the scaled scores s_p = scale * q·k_p, at dp + 1 l = sum_p exp(s_p - m).
using AttentionPartFn = void (*)(const AttentionPart& job, float* state);
// st = st (+) part for each of `heads` partition states (attention.cpp's merge_into: acc[dp], m, l
// per head at stride sd): the two partial softmaxes rescaled to their joint maximum and added.
using AttentionMergeFn = void (*)(float* st, const float* part, int64_t heads, int64_t head_dim, int64_t dp,
                                  int64_t sd);

// The matmul kernels of one ISA, one per weight format and layout (kernels.h, WFormat).
struct MatmulKernels {
  MatmulFn f32 = nullptr, bf16 = nullptr, f16 = nullptr, q8 = nullptr, q4 = nullptr, fp8 = nullptr;
  // Q8, Q4 in the row-grouped layout (kernels.h, WeightView::row_group): r0 is a multiple of 8,
  // and so is r1 unless it is the last row.
  MatmulFn q8_rows8 = nullptr, q4_rows8 = nullptr;
  // F32, BF16, F16 (and BF16 with bf16 activations) in the row-grouped layout, the same bits as
  // their row-major kernels; the same row ranges as above.
  MatmulFn f32_rows8 = nullptr, bf16_rows8 = nullptr, f16_rows8 = nullptr, bf16_x_bf16_rows8 = nullptr;
  // BF16 weights with MatmulJob::bf16_activations (x rounded to bf16 in job.xq). Null: the ISA has
  // no bf16 dot product, and MatmulOptions::bf16_activations is ignored (bf16 runs instead).
  MatmulFn bf16_x_bf16 = nullptr;
};

struct IsaTable {
  MatmulKernels matmul;
  // Q8 / Q4 activations: bytes needed for n rows of cols, and the quantizer (rows [t0, t1) of x
  // into `out`, which quantized_bytes(n, cols) sizes; called concurrently on disjoint rows).
  size_t (*quantized_bytes)(int64_t n, int64_t cols) = nullptr;
  size_t (*quantized_scales_offset)(int64_t n, int64_t cols) = nullptr;  // where the float scales start
  void (*quantize_activations)(const float* x, int64_t cols, int64_t t0, int64_t t1, int64_t n, void* out) = nullptr;
  AttentionPartFn attention_part = nullptr;
  AttentionMergeFn attention_merge = nullptr;  // null: attention.cpp's scalar merge
  // out[n] (elements of `to`) = x[n] rounded to nearest even, NaN to the canonical quiet NaN
  // (bit-identical to core/dtype.h's f32_to_bf16 / f32_to_f16).
  void (*convert_f32)(const float* x, int64_t n, KvElem to, void* out) = nullptr;
  // out[i] = silu(gate[i]) * up[i] for i < d (activation_simd.inc). Null: ops.cpp's scalar loop.
  void (*silu_mul)(const float* gate, const float* up, int64_t d, float* out) = nullptr;
};

// The fill functions: the portable folder has one per kernel family (its own file, the scalar
// twins); a SIMD folder one for the entries its drivers provide (<isa>/kernels.cpp).
void fill_portable_float(IsaTable& t);      // matmul f32 / bf16 / f16 (both layouts)
void fill_portable_quant(IsaTable& t);      // matmul q8 / q4 (both layouts) and the activation quantizer
void fill_portable_fp8(IsaTable& t);        // matmul fp8 (e4m3 weights, float32 block scales)
void fill_portable_attention(IsaTable& t);  // attention_part, convert_f32
void fill_avx2(IsaTable& t);                // x86-64 builds: matmul f32 / bf16 / f16 / q8 / q4 / fp8, attention
void fill_avx512(IsaTable& t);              // the same and bf16_x_bf16
void fill_avx512_quant_rows8(IsaTable& t);  // q8_rows8, q4_rows8
void fill_neon(IsaTable& t);                // AArch64 builds: matmul f32 / bf16 / f16 / fp8, attention

// The table of the active instruction set (dispatch.cpp).
const IsaTable& active_table();

}  // namespace qwen3::kernels::cpu
