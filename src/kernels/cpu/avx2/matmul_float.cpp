// Placeholder until the avx2 float kernels are written: the portable entries are used.
#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
void fill_avx2_float(IsaTable&) {}
}  // namespace qwen3::kernels::cpu
