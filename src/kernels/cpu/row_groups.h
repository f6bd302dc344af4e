// Internal to src/kernels: where a weight byte, block scale or element of the row-grouped layouts
// (kernels.h, WeightView::row_group) live. Out-of-line functions (kernels/row_groups.cpp), so any
// translation unit may call them; the SIMD kernels compute the same offsets in their own loops.
#pragma once

#include <cstdint>

namespace qwen3::kernels::cpu {

// Byte j (< bb) of block b of row o, in a layout of `rows` rows, nb blocks per row, bb bytes per
// row-block (32 q8, 16 q4).
int64_t row_group_byte(int64_t o, int64_t b, int64_t j, int64_t rows, int64_t nb, int64_t bb);
// Index of the scale of block b of row o.
int64_t row_group_scale(int64_t o, int64_t b, int64_t rows, int64_t nb);
// F32 / BF16 / F16: index of element i of row o in the row-grouped layout (cols % 32 == 0).
int64_t row_group_elem(int64_t o, int64_t i, int64_t rows, int64_t cols);

}  // namespace qwen3::kernels::cpu
