// `qwen3 --version`: what this binary is and what it runs on.
#pragma once

#include <string>

namespace qwen3::tools {

// Lines: "qwen3 <version>", "commit <git revision>", "build <CMake build type>", "kernels <ISA>"
// (the instruction set the kernels use in this process: the best this CPU runs, or QWEN3_ISA's).
std::string version_text();

}  // namespace qwen3::tools
