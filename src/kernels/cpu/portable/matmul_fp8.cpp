// Portable matmul for FP8 (e4m3) weights with float32 128 x 128 block scales (layout: kernels.h).
// Each 128-column block of a weight row is dequantized once (a 256-entry table, times the block's
// scale, rounded once: the floats load_row gives), shared by up to kMaxTok token rows; per token:
// 16 partial sums over the whole row in a fixed order, reduced at the end. The order never depends
// on the number of tokens.
#include <cstring>

#include "core/dtype.h"
#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
namespace {

constexpr int kLanes = 16;
constexpr int kMaxTok = 4;
constexpr int64_t kBlock = 128;  // kernels::kFp8Block

struct Lut {
  float v[256];
  Lut() {
    for (int b = 0; b < 256; ++b) v[b] = e4m3_to_f32(uint8_t(b));
  }
};

const float* lut() {
  static const Lut t;
  return t.v;
}

template <int NT>
void dot_rows(const float* x, int64_t ldx, const uint8_t* w, const float* scales, int64_t cols, float* y,
              int64_t ldy) {
  const float* table = lut();
  float acc[NT][kLanes] = {};
  float tail[NT] = {};
  for (int64_t b0 = 0; b0 < cols; b0 += kBlock) {
    const int64_t len = cols - b0 < kBlock ? cols - b0 : kBlock;
    const float s = scales[b0 / kBlock];
    float wf[kBlock];
    for (int64_t i = 0; i < len; ++i) wf[i] = table[w[b0 + i]] * s;
    const int64_t main = len / kLanes * kLanes;
    for (int t = 0; t < NT; ++t) {
      const float* xb = x + t * ldx + b0;
      for (int64_t i = 0; i < main; i += kLanes)
        for (int j = 0; j < kLanes; ++j) acc[t][j] += xb[i + j] * wf[i + j];
      for (int64_t i = main; i < len; ++i) tail[t] += xb[i] * wf[i];  // only the row's last block
    }
  }
  for (int t = 0; t < NT; ++t) {
    float s8[8], s4[4];
    for (int j = 0; j < 8; ++j) s8[j] = acc[t][j] + acc[t][j + 8];
    for (int j = 0; j < 4; ++j) s4[j] = s8[j] + s8[j + 4];
    y[t * ldy] = ((s4[0] + s4[2]) + (s4[1] + s4[3])) + tail[t];
  }
}

void matmul_fp8(const MatmulJob& job, int64_t r0, int64_t r1) {
  const uint8_t* w = static_cast<const uint8_t*>(job.w);
  const int64_t n = job.n, rows = job.rows, cols = job.cols, ncb = (cols + kBlock - 1) / kBlock;
  for (int64_t o = r0; o < r1; ++o) {
    const uint8_t* wr = w + o * cols;
    const float* s = job.w_block_scales + (job.w_block_scale_rows ? job.w_block_scale_rows[o] : o / kBlock) * ncb;
    const float* x = job.x;
    float* y = job.y + o;
    int64_t t = 0;
    for (; t + kMaxTok <= n; t += kMaxTok) dot_rows<kMaxTok>(x + t * cols, cols, wr, s, cols, y + t * rows, rows);
    switch (n - t) {
      case 3: dot_rows<3>(x + t * cols, cols, wr, s, cols, y + t * rows, rows); break;
      case 2: dot_rows<2>(x + t * cols, cols, wr, s, cols, y + t * rows, rows); break;
      case 1: dot_rows<1>(x + t * cols, cols, wr, s, cols, y + t * rows, rows); break;
      default: break;
    }
  }
}

}  // namespace

void fill_portable_fp8(IsaTable& t) { t.matmul.fp8 = matmul_fp8; }

}  // namespace qwen3::kernels::cpu
