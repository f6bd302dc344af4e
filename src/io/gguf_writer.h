// A small GGUF (version 3) writer, written from the format's specification, for `qwen3
// export-gguf` (side-by-side benchmarks with llama.cpp on the same weights).
//
// File layout (all integers little-endian):
//   u32 magic "GGUF" (0x46554747), u32 version 3, u64 tensor_count, u64 kv_count,
//   kv_count × { string key, u32 value_type, value },
//   tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset },
//   zero padding to `alignment`, then the tensor data; each tensor starts at data_start + offset,
//   offset a multiple of `alignment` (32 unless general.alignment says otherwise).
// A string is u64 length + bytes (no terminator). An array value is u32 element type, u64 count,
// then the elements. ne[] lists dimensions innermost first: a row-major [out, in] matrix has
// ne = {in, out}.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace qwen3::gguf {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};

// ggml tensor types this writer emits (unquantized only).
enum class TensorType : uint32_t { F32 = 0, F16 = 1, BF16 = 30 };

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kVersion = 3;
constexpr uint64_t kAlignment = 32;

size_t type_size(TensorType t);  // bytes per element
// The tensor type of a safetensors dtype string ("F32", "BF16", "F16"); qwen3::Error naming the
// dtype and the tensor for anything else.
TensorType tensor_type_of(std::string_view safetensors_dtype, std::string_view tensor_name);

class Writer {
 public:
  void add_u32(std::string key, uint32_t v);
  void add_i32(std::string key, int32_t v);
  void add_u64(std::string key, uint64_t v);
  void add_f32(std::string key, float v);
  void add_bool(std::string key, bool v);
  void add_string(std::string key, std::string v);
  void add_strings(std::string key, std::vector<std::string> v);
  void add_i32s(std::string key, std::vector<int32_t> v);

  // `shape` is row-major, outermost first (as in safetensors); it is written reversed. The bytes
  // are borrowed and must stay valid until write(). Error when nbytes does not match the shape,
  // or the name repeats.
  void add_tensor(std::string name, TensorType type, std::vector<int64_t> shape, const void* data, size_t nbytes);
  // Same, owning its bytes (for tensors converted on the way, e.g. norms to F32).
  void add_tensor(std::string name, TensorType type, std::vector<int64_t> shape, std::vector<uint8_t> bytes);

  // Writes the file (through a temporary next to it, renamed at the end and removed on failure;
  // in place when the path is a device or a FIFO). Every write is checked: errors name the path
  // and say why (strerror), e.g. a full disk.
  void write(const std::filesystem::path& path) const;

 private:
  struct Value {
    ValueType type;
    std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<std::string>, std::vector<int32_t>> v;
  };
  struct Tensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    const uint8_t* data;
    size_t nbytes;
    std::vector<uint8_t> owned;
  };
  void check_key(const std::string& key) const;
  void write_to(const std::filesystem::path& file) const;
  std::vector<std::pair<std::string, Value>> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace qwen3::gguf
