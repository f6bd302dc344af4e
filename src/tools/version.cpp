#include "tools/version.h"

#include <fmt/format.h>

#include "kernels/kernels.h"

// Set by CMakeLists.txt: the project version, `git rev-parse HEAD` at configure time ("unknown"
// outside a git checkout), the build type (with the sanitizers, when on).
#ifndef QWEN3_VERSION
#error "QWEN3_VERSION is set by CMakeLists.txt"
#endif

namespace qwen3::tools {

std::string version_text() {
  using namespace kernels;
  std::string isa;
  try {
    isa = std::string(isa_name(active_isa()));
  } catch (const std::exception& e) {  // QWEN3_ISA names an instruction set this CPU does not run
    isa = fmt::format("none ({})", e.what());
  }
  std::string runs;
  for (Isa i : {Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Portable})
    if (isa_supported(i)) runs += (runs.empty() ? "" : ", ") + std::string(isa_name(i));
  return fmt::format("qwen3 {}\ncommit {}\nbuild {}\nkernels {} (this CPU runs: {})\n", QWEN3_VERSION, QWEN3_GIT_REVISION,
                     QWEN3_BUILD_TYPE, isa, runs);
}

}  // namespace qwen3::tools
