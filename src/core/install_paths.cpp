#include "core/install_paths.h"

#include <fstream>
#include <string>
#include <system_error>

namespace qwen3 {

namespace fs = std::filesystem;

fs::path executable_path() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p;
}

fs::path installed_data_dir() {
  const fs::path exe = executable_path();
  if (exe.empty()) return {};
  return exe.parent_path().parent_path() / "share" / "qwen3";
}

std::optional<fs::path> build_tree_source_dir() {
  const fs::path exe = executable_path();
  if (exe.empty()) return std::nullopt;
  std::ifstream cache(exe.parent_path() / "CMakeCache.txt");
  const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
  for (std::string line; std::getline(cache, line);)
    if (line.rfind(key, 0) == 0) return fs::path(line.substr(key.size()));
  return std::nullopt;
}

}  // namespace qwen3
