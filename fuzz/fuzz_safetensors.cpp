// A safetensors file from arbitrary bytes: header length, JSON header, data offsets. The input is
// written to an in-memory file (memfd) that SafetensorsFile::open maps like any file; every
// tensor's info is then read, and its first and last data bytes touched (they must lie inside the
// mapping, which ASan cannot see: the touch is checked against the mapping's bounds instead).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"

namespace {

int memfd() {
  static const int fd = memfd_create("fuzz.safetensors", 0);
  if (fd < 0) std::abort();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd();
  if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))) std::abort();
  try {
    auto f = qwen3::SafetensorsFile::open("/proc/self/fd/" + std::to_string(fd));
    uint64_t sum = 0;
    for (const auto& [name, info] : f->tensors()) {
      if (name != info.name) std::abort();
      sum += info.name.size() + info.dtype_str.size() + info.shape.size();
      sum += static_cast<uint64_t>(info.numel());
      sum += info.shape_str().size();
      if (info.dtype) sum += static_cast<uint64_t>(*info.dtype);
      // The data must lie inside the file, and its size must be numel × the dtype's size.
      if (info.mapping == nullptr || info.file == nullptr) std::abort();
      const uint8_t* lo = info.mapping->data();
      const uint8_t* hi = lo + info.mapping->size();
      if (info.nbytes > 0) {
        if (info.data < lo || info.data + info.nbytes > hi) std::abort();
        sum += info.data[0] + info.data[info.nbytes - 1];
      }
      const size_t elem = qwen3::safetensors_dtype_size(info.dtype_str);
      if (elem > 0 && info.nbytes != static_cast<size_t>(info.numel()) * elem) std::abort();
    }
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const qwen3::Error&) {
  }
  return 0;
}
