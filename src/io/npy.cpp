#include "io/npy.h"

#include <string>

#include "core/error.h"
#include "core/file_io.h"

namespace qwen3 {

void write_npy_f32(const std::filesystem::path& path, const float* data, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
    n *= shape[i];
  }
  if (shape.size() == 1) dict.pop_back();  // "(5,)"
  dict += "), }";
  // magic (6) + version (2) + header length (2) + dict + padding + '\n' is a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  FileWriter out(path);
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = uint16_t(dict.size());
  out.write(&hl, 2);
  out.write(dict);
  out.write(data, size_t(n) * 4);
  out.close();
}

}  // namespace qwen3
