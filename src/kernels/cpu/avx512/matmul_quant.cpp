// Placeholder until the avx512 quant kernels are written: the portable entries are used.
#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
void fill_avx512_quant(IsaTable&) {}
}  // namespace qwen3::kernels::cpu
