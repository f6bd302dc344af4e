// Placeholder until the avx512 float kernels are written: the portable entries are used.
#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
void fill_avx512_float(IsaTable&) {}
}  // namespace qwen3::kernels::cpu
