// Warnings: one line on stderr, "qwen3: warning: ...", for what a user would want to know but
// that does not stop the program (errors are thrown: core/error.h).
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <string>

namespace qwen3 {

// Off on the tensor-parallel ranks other than 0, which would repeat rank 0's warnings.
inline bool& warnings_enabled() {
  static bool on = true;
  return on;
}
inline void set_warnings(bool on) { warnings_enabled() = on; }

template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
 if (!warnings_enabled()) return;
  const std::string line = "qwen3: warning: " + fmt::format(f, std::forward<Args>(args)...) + "\n";
  std::fputs(line.c_str(), stderr);
}

}  // namespace qwen3
