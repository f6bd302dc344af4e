// The row-grouped q8 / q4 / float layouts (kernels.h, WeightView::row_group): addressing, and the rewrite
// from and to row-major made when a model loads (and undone before a checkpoint is written).
#include <cstring>

#include "core/error.h"
#include "core/parallel_for.h"
#include "kernels/cpu/row_groups.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {

int64_t cpu::row_group_byte(int64_t o, int64_t b, int64_t j, int64_t rows, int64_t nb, int64_t bb) {
  const int64_t grouped = rows - rows % kRowGroup;
  if (o >= grouped) return (o * nb + b) * bb + j;  // the tail stays row-major
  const int64_t g = o / kRowGroup, r = o % kRowGroup;
  return (g * nb + b) * kRowGroup * bb + ((j / 4) * kRowGroup + r) * 4 + j % 4;
}

int64_t cpu::row_group_scale(int64_t o, int64_t b, int64_t rows, int64_t nb) {
  const int64_t grouped = rows - rows % kRowGroup;
  if (o >= grouped) return o * nb + b;
  return ((o / kRowGroup) * nb + b) * kRowGroup + o % kRowGroup;
}

int64_t cpu::row_group_elem(int64_t o, int64_t i, int64_t rows, int64_t cols) {
  const int64_t grouped = rows - rows % kRowGroup;
  if (o >= grouped) return o * cols + i;
  return (o / kRowGroup) * kRowGroup * cols + (i / kFloatGroupCols) * kRowGroup * kFloatGroupCols +
         (o % kRowGroup) * kFloatGroupCols + i % kFloatGroupCols;
}

bool has_row_groups(WFormat f, int64_t cols) {
  if (is_quantized(f)) return true;
  return f != WFormat::FP8 && cols % kFloatGroupCols == 0;
}

namespace {
// Float formats: every element moved, 32-column chunks of 8 rows at a time.
void rewrite_float(WFormat f, int64_t rows, int64_t cols, const void* data, void* out, bool back) {
  const size_t es = f == WFormat::F32 ? 4 : 2, chunk = size_t(kFloatGroupCols) * es;
  const auto* src = static_cast<const uint8_t*>(data);
  auto* dst = static_cast<uint8_t*>(out);
  const int64_t grouped = rows - rows % kRowGroup, nc = cols / kFloatGroupCols;
  // Groups on all threads (a model's weights pass through here once when it loads).
  parallel_for(grouped / kRowGroup, 8, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g)
      for (int64_t r = 0; r < kRowGroup; ++r)
        for (int64_t c = 0; c < nc; ++c) {
          const size_t plain = size_t((g * kRowGroup + r) * cols + c * kFloatGroupCols) * es,
                       grp = size_t(((g * nc + c) * kRowGroup + r) * kFloatGroupCols) * es;
          std::memcpy(dst + (back ? plain : grp), src + (back ? grp : plain), chunk);
        }
  });
  std::memcpy(dst + size_t(grouped * cols) * es, src + size_t(grouped * cols) * es, size_t((rows - grouped) * cols) * es);
}

// Copies every byte and scale between the two layouts (grouped -> row-major when `back`).
void rewrite(WFormat f, int64_t rows, int64_t cols, const void* data, const uint16_t* scales, void* out,
             uint16_t* out_scales, bool back) {
  if (!has_row_groups(f, cols))
    fail("row groups: {} weights of {} columns have no row-grouped layout", format_name(f), cols);
  if (!is_quantized(f)) return rewrite_float(f, rows, cols, data, out, back);
  const int64_t nb = (cols + kQBlock - 1) / kQBlock, bb = f == WFormat::Q8 ? kQBlock : kQBlock / 2;
  const int64_t grouped = rows - rows % kRowGroup;
  const auto* src = static_cast<const uint8_t*>(data);
  auto* dst = static_cast<uint8_t*>(out);
  for (int64_t g = 0; g < grouped / kRowGroup; ++g)
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t r = 0; r < kRowGroup; ++r) {
        const int64_t plain = (g * kRowGroup + r) * nb + b, grp = (g * nb + b) * kRowGroup + r;
        out_scales[back ? plain : grp] = scales[back ? grp : plain];
        for (int64_t k = 0; k < bb / 4; ++k) {  // 4-byte units
          const int64_t p = plain * bb + 4 * k, q = (g * nb + b) * kRowGroup * bb + (k * kRowGroup + r) * 4;
          std::memcpy(dst + (back ? p : q), src + (back ? q : p), 4);
        }
      }
  // The tail rows: row-major in both.
  std::memcpy(dst + grouped * nb * bb, src + grouped * nb * bb, size_t((rows - grouped) * nb * bb));
  std::memcpy(out_scales + grouped * nb, scales + grouped * nb, size_t((rows - grouped) * nb) * 2);
}
}  // namespace

void to_row_groups(WFormat f, int64_t rows, int64_t cols, const void* data, const uint16_t* scales, void* out,
                   uint16_t* out_scales) {
  rewrite(f, rows, cols, data, scales, out, out_scales, false);
}

void from_row_groups(WFormat f, int64_t rows, int64_t cols, const void* data, const uint16_t* scales, void* out,
                     uint16_t* out_scales) {
  rewrite(f, rows, cols, data, scales, out, out_scales, true);
}

}  // namespace qwen3::kernels
