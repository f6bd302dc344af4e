// Matmul for f32 / bf16 / f16 weights. Portable C++ written so that the compiler vectorises it
// (16 independent partial sums per token); one build per instruction set through target_clones, so
// the ISA is chosen once per process by the dynamic loader. Hand-tuned SIMD kernels replace this in
// the CPU-speed work.
#include <cstring>

#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

constexpr int kLanes = 16;   // partial sums per token row
constexpr int kMaxTok = 4;   // token rows sharing one pass over a weight row

template <typename T>
inline float to_f32(T v);
template <>
inline float to_f32<float>(float v) { return v; }

struct Bf16 { uint16_t bits; };
struct F16 { uint16_t bits; };
template <>
inline float to_f32<Bf16>(Bf16 v) { return bf16_to_f32(v.bits); }
template <>
inline float to_f32<F16>(F16 v) { return f16_to_f32(v.bits); }

// Fixed-order reduction of the 16 partial sums, then the scalar tail: identical for every NT.
template <typename W, int NT>
[[gnu::always_inline]] inline void dot_rows(const float* x, int64_t ldx, const W* w, int64_t cols, float* y, int64_t ldy) {
  float acc[NT][kLanes] = {};
  const int64_t main = cols / kLanes * kLanes;
  for (int64_t i = 0; i < main; i += kLanes) {
    float wf[kLanes];
    for (int j = 0; j < kLanes; ++j) wf[j] = to_f32(w[i + j]);
    for (int t = 0; t < NT; ++t)
      for (int j = 0; j < kLanes; ++j) acc[t][j] += x[t * ldx + i + j] * wf[j];
  }
  for (int t = 0; t < NT; ++t) {
    float s8[8], s4[4], s2[2];
    for (int j = 0; j < 8; ++j) s8[j] = acc[t][j] + acc[t][j + 8];
    for (int j = 0; j < 4; ++j) s4[j] = s8[j] + s8[j + 4];
    for (int j = 0; j < 2; ++j) s2[j] = s4[j] + s4[j + 2];
    float s = s2[0] + s2[1];
    float tail = 0;
    for (int64_t i = main; i < cols; ++i) tail += x[t * ldx + i] * to_f32(w[i]);
    y[t * ldy] = s + tail;
  }
}

// ThreadSanitizer's runtime is not up yet when the dynamic loader runs ifunc resolvers, so a TSan
// build keeps the portable version only.
#if defined(__SANITIZE_THREAD__)
#define QWEN3_ISA_CLONES
#else
#define QWEN3_ISA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
template <typename W>
QWEN3_ISA_CLONES void matmul_rows(const float* x, int64_t n, const W* w, int64_t rows, int64_t cols, int64_t r0, int64_t r1,
                 float* y) {
  for (int64_t o = r0; o < r1; ++o) {
    const W* wr = w + o * cols;
    int64_t t = 0;
    for (; t + kMaxTok <= n; t += kMaxTok) dot_rows<W, kMaxTok>(x + t * cols, cols, wr, cols, y + t * rows + o, rows);
    switch (n - t) {
      case 3: dot_rows<W, 3>(x + t * cols, cols, wr, cols, y + t * rows + o, rows); break;
      case 2: dot_rows<W, 2>(x + t * cols, cols, wr, cols, y + t * rows + o, rows); break;
      case 1: dot_rows<W, 1>(x + t * cols, cols, wr, cols, y + t * rows + o, rows); break;
      default: break;
    }
  }
}

#undef QWEN3_ISA_CLONES

template <typename W>
void matmul_typed(const float* x, int64_t n, const WeightView& wv, float* y) {
  const W* w = static_cast<const W*>(wv.data);
  // Rows per task: enough work per chunk, and weight rows stay contiguous per thread.
  parallel_for(wv.rows, 16, [&](int64_t r0, int64_t r1) { matmul_rows<W>(x, n, w, wv.rows, wv.cols, r0, r1, y); });
}

}  // namespace

void matmul(const float* x, int64_t n, const WeightView& w, float* y) {
  switch (w.dtype) {
    case DType::F32: return matmul_typed<float>(x, n, w, y);
    case DType::BF16: return matmul_typed<Bf16>(x, n, w, y);
    case DType::F16: return matmul_typed<F16>(x, n, w, y);
  }
}

namespace {
void load_row16(const WeightView& w, int64_t row, float* out, float (*convert)(uint16_t)) {
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + size_t(row * w.cols) * 2;
  for (int64_t i = 0; i < w.cols; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = convert(h);
  }
}
}  // namespace

void load_row(const WeightView& w, int64_t row, float* out) {
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(out, static_cast<const float*>(w.data) + row * w.cols, size_t(w.cols) * 4);
      return;
    // 16-bit reads through memcpy: a row straight from a mapped safetensors file may sit at an odd
    // address (the format does not require alignment).
    case DType::BF16: return load_row16(w, row, out, bf16_to_f32);
    case DType::F16: return load_row16(w, row, out, f16_to_f32);
  }
}

}  // namespace qwen3::kernels
