// Where the qwen3 binary finds the data it ships with, relative to its own path (no source path is
// compiled in): an installed tree is PREFIX/bin/qwen3 + PREFIX/share/qwen3/..., and a binary run
// from its CMake build folder can find the source tree through that folder's CMakeCache.txt.
#pragma once

#include <filesystem>
#include <optional>

namespace qwen3 {

// The running executable (/proc/self/exe), or empty when it cannot be read.
std::filesystem::path executable_path();

// PREFIX/share/qwen3 for an executable at PREFIX/bin/NAME (whether or not it exists).
std::filesystem::path installed_data_dir();

// When the executable sits in a CMake build folder (CMakeCache.txt beside it), the source folder
// that build was configured from (CMAKE_HOME_DIRECTORY); otherwise nothing.
std::optional<std::filesystem::path> build_tree_source_dir();

}  // namespace qwen3
