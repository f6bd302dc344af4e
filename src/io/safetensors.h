// Safetensors reader: memory-mapped, single file or sharded (model.safetensors.index.json).
// Format: u64 little-endian header length N, N bytes of JSON header
//   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the data; offsets are relative to the byte after the header.
// Everything in the header is validated on open, and errors name the file and the tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/progress.h"

namespace qwen3 {

struct TensorInfo {
  std::string name;
  std::string dtype_str;          // as written in the file, e.g. "BF16", "F8_E4M3"
  std::optional<DType> dtype;     // nullopt for a dtype this engine does not compute with
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapped file
  size_t nbytes = 0;
  const std::filesystem::path* file = nullptr;
  const MappedFile* mapping = nullptr;

  // Done with the bytes (they were copied): let the OS drop them from memory.
  void release() const {
    if (mapping) mapping->release(data, nbytes);
  }

  int64_t numel() const;
  std::string shape_str() const;  // "[1024, 3072]"
};

class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  const std::filesystem::path& path() const { return file_.path(); }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }

 private:
  MappedFile file_;
  std::map<std::string, TensorInfo> tensors_;
};

// A Hugging Face checkpoint folder: model.safetensors, or model.safetensors.index.json and the shard
// files it names. Keeps every file mapped while it lives.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& dir);
  const TensorInfo* find(const std::string& name) const;  // nullptr when absent
  // The tensor, or an error naming the file that should hold it (model.safetensors, or the index
  // when sharded) and the tensor.
  const TensorInfo& require(const std::string& name) const;
  // Every tensor of every file, including those of a shard that the index does not list.
  const std::map<std::string, const TensorInfo*>& tensors() const { return index_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> index_;
  std::filesystem::path index_file_;  // model.safetensors.index.json; empty for one file
  std::set<std::string> unlisted_;     // in a shard but not in the index's weight_map
};

// Writer, for make-test-model and quantize. Tensors are laid out in the order given; the header is
// padded with spaces to a multiple of 8 bytes.
struct TensorToWrite {
  std::string name;
  std::string dtype;  // safetensors spelling
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};
// `progress`, when given, is advanced by the bytes of tensor data written.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}},
                       Progress* progress = nullptr);

// Bytes per element of any safetensors dtype string (including ones we do not compute with);
// 0 for an unknown string.
size_t safetensors_dtype_size(const std::string& dtype);

}  // namespace qwen3
