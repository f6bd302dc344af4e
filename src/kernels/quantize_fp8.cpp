// FP8 e4m3 weight quantizer in 128 x 128 blocks (kernels.h: quantize_fp8).
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {

void quantize_fp8(const float* src, int64_t rows, int64_t cols, uint8_t* data, float* block_scales) {
  const int64_t ncb = (cols + kFp8Block - 1) / kFp8Block;
  for (int64_t rb = 0; rb * kFp8Block < rows; ++rb) {
    const int64_t r0 = rb * kFp8Block, r1 = std::min(rows, r0 + kFp8Block);
    for (int64_t cb = 0; cb < ncb; ++cb) {
      const int64_t c0 = cb * kFp8Block, c1 = std::min(cols, c0 + kFp8Block);
      float amax = 0;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) {
          const float v = src[r * cols + c];
          if (!std::isfinite(v)) fail("quantize_fp8: the weight at [{}, {}] is {}", r, c, v);
          amax = std::max(amax, std::fabs(v));
        }
      // llm-compressor (compressed-tensors): scale = amax / 448, clamped to float32 epsilon.
      const float scale = std::max(amax / 448.0f, FLT_EPSILON);
      block_scales[rb * ncb + cb] = scale;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) data[r * cols + c] = f32_to_e4m3(src[r * cols + c] / scale);
    }
  }
}

}  // namespace qwen3::kernels
