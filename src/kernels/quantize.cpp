// Scalar q8 / q4 weight quantizer (layouts in kernels.h).
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {

void quantize_weights(WFormat f, const float* src, int64_t rows, int64_t cols, void* data, uint16_t* scales) {
  const int64_t nb = (cols + kQBlock - 1) / kQBlock;
  const float qmax = f == WFormat::Q8 ? 127.0f : 7.0f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      float amax = 0;
      for (int64_t j = 0; j < kQBlock && b * kQBlock + j < cols; ++j) amax = std::max(amax, std::fabs(src[r * cols + b * kQBlock + j]));
      const uint16_t sh = f32_to_f16(amax / qmax);
      const float d = f16_to_f32(sh);
      scales[r * nb + b] = sh;
      int q[kQBlock] = {};
      for (int64_t j = 0; j < kQBlock && b * kQBlock + j < cols; ++j) {
        const float v = d > 0 ? std::nearbyint(src[r * cols + b * kQBlock + j] / d) : 0.0f;
        q[j] = int(std::fmax(-qmax - (f == WFormat::Q4 ? 1 : 0), std::fmin(qmax, v)));
      }
      if (f == WFormat::Q8) {
        int8_t* o = static_cast<int8_t*>(data) + (r * nb + b) * kQBlock;
        for (int j = 0; j < kQBlock; ++j) o[j] = int8_t(q[j]);
      } else {
        uint8_t* o = static_cast<uint8_t*>(data) + (r * nb + b) * kQBlock / 2;
        for (int j = 0; j < 16; ++j) o[j] = uint8_t((q[j] + 8) | ((q[j + 16] + 8) << 4));
      }
    }
}

}  // namespace qwen3::kernels
