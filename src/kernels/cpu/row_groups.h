// Internal to src/kernels: where a weight byte and a block scale of the row-grouped q8 / q4 layout
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

}  // namespace qwen3::kernels::cpu
