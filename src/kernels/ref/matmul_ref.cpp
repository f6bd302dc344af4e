#include <vector>

#include "kernels/kernels.h"

namespace qwen3::kernels::ref {

void matmul(const float* x, int64_t n, const WeightView& w, float* y) {
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
