// CPU kernels. They take views and sizes and know nothing of Qwen3 or of requests.
// Math convention: weights are [out_features, in_features] row-major; y = x · Wᵀ.
// Activations are float32 [num_tokens, features]; accumulation is float32.
//
// Numerics contract: the result for one token row never depends on how many other rows are in the
// call (batch invariance): every (token, output) dot product is computed in the same order whatever
// the batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/dtype.h"
#include "core/kv_dtype.h"

namespace qwen3::kernels {

// --- instruction sets: one choice per process (the best this CPU runs), made on first use ---
// Avx2 means AVX2 + FMA + F16C; Avx512 adds BW, VL, BF16, VNNI (both x86-64 builds only); Neon is
// AArch64's Advanced SIMD (AArch64 builds only).
enum class Isa : uint8_t { Portable, Avx2, Avx512, Neon };
std::string_view isa_name(Isa isa);                   // "portable", "avx2", "avx512", "neon"
bool isa_supported(Isa isa);                          // compiled in and runnable on this CPU
// The instruction set every kernel uses: the best supported, or the one named by the environment
// variable QWEN3_ISA (portable | avx2 | avx512 | neon; an unsupported or unknown name is an error).
Isa active_isa();
// Switches the instruction set for the whole process (tests and benchmarks compare them). Not to
// be called while kernels run. qwen3::Error when unsupported.
void set_active_isa(Isa isa);

// --- weight formats ---
// F32 / BF16 / F16: `data` is [rows, cols] row-major of that element type.
// Q8: `data` is int8 [rows, kpad], kpad = cols rounded up to kQBlock; `scales` is f16
//     [rows, kpad / kQBlock]; w[o, i] = data[o, i] * scale[o, i / kQBlock]; padding is 0.
// Q4: `data` is uint8 [rows, kpad / 2]: block b of row o is 16 bytes, byte j holds element
//     kQBlock * b + j in its low nibble and kQBlock * b + 16 + j in its high nibble;
//     w[o, i] = (nibble - 8) * scale[o, i / kQBlock]; padding is nibble 8 (zero).
// Q8 / Q4 with row_group = kRowGroup (8), the layout the AVX-512 kernels read (in memory only; see
//     to_row_groups): with nb blocks per row and B bytes per row-block (32 q8, 16 q4), rows
//     [0, rows - rows % 8) form groups of 8 rows. Group g's block b is 8 B bytes at
//     (g * nb + b) * 8 B, interleaved in 4-byte units: unit k (k < B / 4) of row 8 g + r at
//     (8 k + r) * 4. One 32-byte load at unit k thus holds bytes 4k..4k+3 of the block of all 8
//     rows (q4: low nibbles elements 4k..4k+3, high nibbles 16 + 4k..16 + 4k + 3). Scales are
//     [g][b][8 rows] at (g * nb + b) * 8 + r. The rows % 8 tail rows stay row-major after the
//     groups, at the same offsets as without groups (o * nb * B bytes, o * nb scales).
//     Numerics of this layout, on every ISA: acc = +0; for blocks b in order, acc =
//     fmaf(float(dot_b), float(x_scale_b * w_scale_b), acc), dot_b the exact int32 block dot
//     product; y = acc. Each step is one IEEE operation, so every ISA gives the same bits.
// F32 / BF16 / F16 with row_group = kRowGroup, for cols a multiple of kFloatGroupCols (32) only:
//     rows [0, rows - rows % 8) form groups of 8 rows; group g's column chunk c (32 columns) is the
//     8 rows' 32 elements one row after the other, at element (g * cols / 32 + c) * 256 + 32 r for
//     row 8 g + r. The 8 rows of a group thus stream as one linear read. The rows % 8 tail rows
//     stay row-major after the groups (element o * cols). Numerics: the same as row-major (every
//     dot product in the same order): only the addresses differ.
// FP8: `data` is e4m3 bytes [rows, cols] (core/dtype.h); `block_scales` is float32
//     [ceil(rows / kFp8Block), ceil(cols / kFp8Block)] (Hugging Face's weight_scale_inv, one per
//     128 x 128 block, partial at the edges); w[o, i] = e4m3(data[o, i]) * S[o / 128, i / 128].
//     When `block_scale_rows` is set, row o takes its scales from row block_scale_rows[o] of S
//     instead of o / 128: a fused layer (q | k | v) keeps each part's own block grid even where a
//     part's row count is not a multiple of 128. `data` holds no NaN code (0x7F / 0xFF): the
//     loader refuses them, and the SIMD kernels do not decode them.
// (docs/quantization.md describes the same layouts as stored in safetensors.)
enum class WFormat : uint8_t { F32, BF16, F16, Q8, Q4, FP8 };
constexpr int64_t kQBlock = 32;
constexpr int64_t kFp8Block = 128;
constexpr int32_t kRowGroup = 8;
constexpr int64_t kFloatGroupCols = 32;
std::string_view format_name(WFormat f);  // "f32", "bf16", "f16", "q8", "q4", "fp8"
WFormat format_of(DType t);               // the unquantized format of a stored dtype
bool is_quantized(WFormat f);             // Q8 / Q4 (int8 blocks, f16 scales); not FP8
size_t weight_data_bytes(WFormat f, int64_t rows, int64_t cols);   // bytes of `data`
size_t weight_scale_count(WFormat f, int64_t rows, int64_t cols);  // f16 scales (0 unless quantized)
// FP8 block scales of an unfused [rows, cols] weight: ceil(rows / 128) * ceil(cols / 128).
size_t fp8_scale_count(int64_t rows, int64_t cols);

struct WeightView {
  WFormat format = WFormat::F32;
  const void* data = nullptr;
  int64_t rows = 0;                   // out_features
  int64_t cols = 0;                   // in_features
  const uint16_t* scales = nullptr;   // f16 block scales of Q8 / Q4
  const float* block_scales = nullptr;        // FP8 float32 128 x 128 block scales
  const int32_t* block_scale_rows = nullptr;  // FP8, optional: [rows], row of block_scales per row
  int32_t row_group = 0;              // 0 (row-major) or kRowGroup (grouped rows, above; not FP8)
};

// Whether the active ISA's q8 / q4 / float kernels are faster on the row-grouped layout
// (AVX-512). Every ISA computes on both layouts.
bool prefers_row_groups();
// Whether a [rows, cols] weight of format f has a row-grouped layout: Q8 / Q4 always; F32 / BF16 /
// F16 when cols is a multiple of kFloatGroupCols; FP8 never.
bool has_row_groups(WFormat f, int64_t cols);
// `data` / `scales` of a [rows, cols] weight, row-major, rewritten into the row-grouped layout
// (`out`, `out_scales`: the same sizes; scales only for Q8 / Q4, null otherwise), and back. The
// layout is for inference only: checkpoints are written row-major. Fails where !has_row_groups.
void to_row_groups(WFormat f, int64_t rows, int64_t cols, const void* data, const uint16_t* scales, void* out,
                   uint16_t* out_scales);
void from_row_groups(WFormat f, int64_t rows, int64_t cols, const void* data, const uint16_t* scales, void* out,
                     uint16_t* out_scales);

struct MatmulOptions {
  // BF16 weights only, and only where the CPU has bf16 dot products (AVX512_BF16): activations are
  // rounded to bf16 (round to nearest even) and multiplied in bf16 with float32 accumulation.
  bool bf16_activations = false;
};

// y[n, w.rows] = x[n, w.cols] · Wᵀ. Multi-threaded over the rows of W. For Q8 / Q4, x is
// quantized per kQBlock block to int8 (scale = max|x| / 127, round to nearest even) first.
// Batch invariance: a token row's result is the same bits whatever n (for a fixed ISA; for row-grouped
// Q8 / Q4, the same bits on every ISA).
void matmul(const float* x, int64_t n, const WeightView& w, float* y, const MatmulOptions& opts = {});

// Row `row` of W converted to float32: out[w.cols].
void load_row(const WeightView& w, int64_t row, float* out);

// y[n, d] = x * rsqrt(mean(x²) + eps) * weight[d], row by row. y may alias x.
void rms_norm(const float* x, int64_t n, int64_t d, const float* weight, double eps, float* y);

// Rotate-half (neox) rotary embedding, in place, on `num_heads` heads of `head_dim` for each of n
// tokens: x is [n, row_stride] and the heads start at x[t * row_stride]. cos/sin are [n, head_dim/2].
void rope_neox(float* x, int64_t n, int64_t row_stride, int64_t num_heads, int64_t head_dim, const float* cos,
               const float* sin);

enum class Act { SiLU, GeluErf, GeluTanh, ReLU };
// gate_up is [n, 2 * d] (gate then up); out[n, d] = act(gate) * up.
void gated_act(const float* gate_up, int64_t n, int64_t d, Act act, float* out);

// n float32 values to the KV cache element type `to`: out[n] of `to`. BF16 / F16 round to nearest
// even, bit for bit as core/dtype.h's f32_to_bf16 / f32_to_f16; F32 copies.
void convert_f32(const float* x, int64_t n, DType to, void* out);

// One token's K or V, x[heads, head_dim] float32, into the cache's layout for `to`
// (core/kv_dtype.h): out holds heads * kv_head_bytes(to, head_dim) bytes. Float types as
// convert_f32. Quantized types, per head and block of kKvQBlock elements (Q8Head: the whole head):
// a = max|x| over the block (NaN and ±inf count as 0 and are stored as code 0), scale =
// f32_to_f16(a / 127) (Q8) or f32_to_f16(a / 448) (FP8), saturated to the largest finite f16;
// s = the scale as float; code = 0 when s == 0, else round-to-nearest-even(x / s) clamped to
// [-127, 127] (Q8) or f32_to_e4m3(x / s) (FP8, saturating). The same bits on every ISA (scalar).
void store_kv(const float* x, int64_t heads, int64_t head_dim, KvDType to, void* out);

// Causal attention over a paged K/V cache, for the query rows of several sequences in one call.
struct AttentionSeq {
  int64_t row0 = 0;  // its first query row in PagedAttention::q / out
  int64_t T = 0;     // its query rows; row row0 + t attends to positions [0, pos0 + t]
  int64_t pos0 = 0;
  const int32_t* block_table = nullptr;  // page of positions [i * page_size, (i + 1) * page_size)
};
struct PagedAttention {
  const float* q = nullptr;  // [rows, q_stride], head h of row r at q[r * q_stride + h * head_dim]
  int64_t q_stride = 0;
  float* out = nullptr;      // [rows, num_heads * head_dim]
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;  // num_heads a multiple of num_kv_heads
  float scale = 1.0f;
  KvDType kv_dtype = KvDType::F32;
  // This layer's K: [num_pages, page_size, num_kv_heads] of kv_head_bytes(kv_dtype, head_dim) each
  // (head_dim elements of a float type; scales and codes of a quantized one: core/kv_dtype.h).
  const void* k = nullptr;
  const void* v = nullptr;   // this layer's V, the same shape
  int64_t page_size = 16;
  std::span<const AttentionSeq> seqs;
};
// out = softmax(q kᵀ · scale) v per query head, kv head = head / (num_heads / num_kv_heads). K and V
// are read in their stored type and widened to float32; float32 math. Quantized K: q8 and fp8 are
// dequantized exactly (code * scale, exact in float32), q8-head's one scale multiplies the score;
// quantized V: the block scale is folded into the softmax weight, (p * scale) * code (one rounding
// more than the exact product). The context of each row is
// cut into partitions of kAttentionPartition positions at fixed positions, each reduced with online
// softmax, and the partitions are merged left to right; threads share the partitions out.
// Batch invariance: a (row, head) result is the same bits whatever the other rows and sequences,
// T and the number of threads (for a fixed ISA): prefill of n + 1 tokens equals prefill of n then
// one decode. Nothing is allocated per call once the workspace has grown to the largest call.
constexpr int64_t kAttentionPartition = 128;
void attention(const PagedAttention& a);

// Quantizes float32 rows src[rows, cols] into a Q8 / Q4 weight: per kQBlock block, scale =
// max|w| / 127 (Q8) or max|w| / 7 (Q4) rounded to f16, values round(w / scale) to nearest even,
// clamped. `data` and `scales` are sized by weight_data_bytes / weight_scale_count. Deterministic.
void quantize_weights(WFormat f, const float* src, int64_t rows, int64_t cols, void* data, uint16_t* scales);

// Quantizes float32 src[rows, cols] to FP8 in 128 x 128 blocks, as llm-compressor does: per block
// scale = max(max|w| / 448, FLT_EPSILON) in float32 (an all-zero block gets FLT_EPSILON, as
// compressed-tensors clamps it), value = f32_to_e4m3(w / scale) (a float32 division, round to
// nearest even, saturating). `data` is [rows, cols] bytes, `block_scales` [ceil(rows / 128),
// ceil(cols / 128)]. Deterministic. qwen3::Error when src holds a NaN or an infinity.
void quantize_fp8(const float* src, int64_t rows, int64_t cols, uint8_t* data, float* block_scales);

namespace ref {
// Scalar twins, for tests: plain loops, float32 accumulation in index order. For Q8 / Q4 the twin
// quantizes the activations the same way and sums exact integer block dot products.
void matmul(const float* x, int64_t n, const WeightView& w, float* y);
}  // namespace ref

}  // namespace qwen3::kernels
