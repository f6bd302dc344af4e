// .npy writer (format version 1.0, little-endian '<f4', C order).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace qwen3 {

void write_npy_f32(const std::filesystem::path& path, const float* data, const std::vector<int64_t>& shape);

}  // namespace qwen3
