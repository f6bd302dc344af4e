// Placeholder until the portable Q8 / Q4 kernels are written.
#include "kernels/cpu/isa_table.h"

namespace qwen3::kernels::cpu {
void fill_portable_quant(IsaTable&) {}
}  // namespace qwen3::kernels::cpu
