// CPU kernels. They take views and sizes and know nothing of Qwen3 or of requests.
// Math convention: weights are [out_features, in_features] row-major; y = x · Wᵀ.
// Activations are float32 [num_tokens, features]; accumulation is float32.
//
// Numerics contract: the result for one token row never depends on how many other rows are in the
// call (batch invariance): every (token, output) dot product is computed in the same order whatever
// the batch.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace qwen3::kernels {

struct WeightView {
  DType dtype = DType::F32;
  const void* data = nullptr;  // [rows, cols] row-major, elements of dtype
  int64_t rows = 0;            // out_features
  int64_t cols = 0;            // in_features
};

// y[n, w.rows] = x[n, w.cols] · Wᵀ. Multi-threaded over the rows of W.
void matmul(const float* x, int64_t n, const WeightView& w, float* y);

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

// Causal attention of T query tokens of one sequence over its paged K/V.
struct PagedAttention {
  const float* q = nullptr;  // [T, q_stride], heads at q[t * q_stride + h * head_dim]
  int64_t q_stride = 0;
  float* out = nullptr;      // [T, num_heads * head_dim]
  int64_t T = 0;
  int64_t pos0 = 0;          // position of query row 0; row t attends to positions [0, pos0 + t]
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
  const float* k = nullptr;  // this layer's K: [num_pages, page_size, num_kv_heads, head_dim]
  const float* v = nullptr;
  int64_t page_size = 16;
  const int32_t* block_table = nullptr;  // page of positions [i * page_size, (i + 1) * page_size)
};
void attention(const PagedAttention& a);

namespace ref {
// Scalar twins, for tests: plain loops, float32 accumulation in index order.
void matmul(const float* x, int64_t n, const WeightView& w, float* y);
}  // namespace ref

}  // namespace qwen3::kernels
