#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace qwen3::kernels::ref {
namespace {

// q8 / q4 as documented in kernels.h and docs/quantization.md, written independently of the
// cpu/ kernels: activations quantized per block (float32 scale max|x| / 127, round half to even),
// exact integer block dots, float32 sum over blocks in block order; for the row-grouped layout,
// read back to row-major first, one fmaf per block (that layout's contract).
void matmul_quant(const float* x, int64_t n, const WeightView& wv, float* y) {
  const int64_t nb = (wv.cols + kQBlock - 1) / kQBlock;
  WeightView w = wv;
  std::vector<uint8_t> plain(wv.row_group ? weight_data_bytes(wv.format, wv.rows, wv.cols) : 0);
  std::vector<uint16_t> plain_scales(wv.row_group ? weight_scale_count(wv.format, wv.rows, wv.cols) : 0);
  if (wv.row_group) {
    from_row_groups(wv.format, wv.rows, wv.cols, wv.data, wv.scales, plain.data(), plain_scales.data());
    w.data = plain.data(), w.scales = plain_scales.data(), w.row_group = 0;
  }
  std::vector<float> wrow(static_cast<size_t>(nb * kQBlock));
  std::vector<int> xq(static_cast<size_t>(nb * kQBlock));
  std::vector<float> xs(static_cast<size_t>(nb));
  for (int64_t t = 0; t < n; ++t) {
    std::fill(xq.begin(), xq.end(), 0);
    for (int64_t b = 0; b < nb; ++b) {
      float amax = 0;
      for (int64_t i = b * kQBlock; i < std::min(w.cols, (b + 1) * kQBlock); ++i) amax = std::max(amax, std::fabs(x[t * w.cols + i]));
      xs[size_t(b)] = amax / 127.0f;
      if (amax > 0)
        for (int64_t i = b * kQBlock; i < std::min(w.cols, (b + 1) * kQBlock); ++i)
          xq[size_t(i)] = int(std::nearbyint(x[t * w.cols + i] / xs[size_t(b)]));
    }
    for (int64_t o = 0; o < w.rows; ++o) {
      float acc = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const float sw = f16_to_f32(w.scales[o * nb + b]);
        int32_t dot = 0;
        for (int64_t i = b * kQBlock; i < std::min(w.cols, (b + 1) * kQBlock); ++i) {
          int q;
          if (w.format == WFormat::Q8) {
            q = static_cast<const int8_t*>(w.data)[o * nb * kQBlock + i];
          } else {
            const uint8_t byte = static_cast<const uint8_t*>(w.data)[(o * nb + b) * (kQBlock / 2) + (i % kQBlock) % 16];
            q = ((i % kQBlock) < 16 ? (byte & 15) : (byte >> 4)) - 8;
          }
          dot += xq[size_t(i)] * q;
        }
        if (wv.row_group) acc = std::fma(float(dot), xs[size_t(b)] * sw, acc);
        else acc += float(dot) * (xs[size_t(b)] * sw);
      }
      y[t * w.rows + o] = acc;
    }
  }
}

}  // namespace

void matmul(const float* x, int64_t n, const WeightView& w, float* y) {
  if (is_quantized(w.format)) return matmul_quant(x, n, w, y);
  std::vector<float> row(size_t(w.cols));
  for (int64_t o = 0; o < w.rows; ++o) {
    load_row(w, o, row.data());
    for (int64_t t = 0; t < n; ++t) {
      float s = 0;
      for (int64_t i = 0; i < w.cols; ++i) s += x[t * w.cols + i] * row[size_t(i)];
      y[t * w.rows + o] = s;
    }
  }
}

}  // namespace qwen3::kernels::ref
