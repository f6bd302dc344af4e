#include "io/gguf_writer.h"

#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"

namespace qwen3::gguf {

size_t type_size(TensorType t) { return t == TensorType::F32 ? 4 : 2; }

TensorType tensor_type_of(std::string_view dtype, std::string_view tensor_name) {
  if (dtype == "F32") return TensorType::F32;
  if (dtype == "F16") return TensorType::F16;
  if (dtype == "BF16") return TensorType::BF16;
  fail("tensor '{}': dtype {} cannot be written to GGUF by this writer (F32, BF16 or F16 only)", tensor_name, dtype);
}

void Writer::check_key(const std::string& key) const {
  if (key.empty()) fail("gguf: empty key");
  for (auto& [k, v] : kvs_)
    if (k == key) fail("gguf: key '{}' added twice", key);
}

void Writer::add_u32(std::string key, uint32_t v) { check_key(key); kvs_.push_back({std::move(key), {ValueType::U32, uint64_t(v)}}); }
void Writer::add_u64(std::string key, uint64_t v) { check_key(key); kvs_.push_back({std::move(key), {ValueType::U64, v}}); }
void Writer::add_i32(std::string key, int32_t v) { check_key(key); kvs_.push_back({std::move(key), {ValueType::I32, int64_t(v)}}); }
void Writer::add_f32(std::string key, float v) { check_key(key); kvs_.push_back({std::move(key), {ValueType::F32, double(v)}}); }
void Writer::add_bool(std::string key, bool v) { check_key(key); kvs_.push_back({std::move(key), {ValueType::Bool, v}}); }
void Writer::add_string(std::string key, std::string v) {
  check_key(key);
  kvs_.push_back({std::move(key), {ValueType::String, std::move(v)}});
}
void Writer::add_strings(std::string key, std::vector<std::string> v) {
  check_key(key);
  kvs_.push_back({std::move(key), {ValueType::Array, std::move(v)}});
}
void Writer::add_i32s(std::string key, std::vector<int32_t> v) {
  check_key(key);
  kvs_.push_back({std::move(key), {ValueType::Array, std::move(v)}});
}

void Writer::add_tensor(std::string name, TensorType type, std::vector<int64_t> shape, const void* data, size_t nbytes) {
  if (name.empty()) fail("gguf: tensor with an empty name");
  for (auto& t : tensors_)
    if (t.name == name) fail("gguf: tensor '{}' added twice", name);
  if (shape.empty() || shape.size() > 4) fail("gguf: tensor '{}' has {} dimensions (1 to 4)", name, shape.size());
  size_t n = 1, need = 0;
  for (int64_t d : shape) {
    if (d <= 0) fail("gguf: tensor '{}' has a dimension {}", name, d);
    if (__builtin_mul_overflow(n, size_t(d), &n)) fail("gguf: tensor '{}': its element count overflows", name);
  }
  if (__builtin_mul_overflow(n, type_size(type), &need)) fail("gguf: tensor '{}': its size overflows", name);
  if (need != nbytes) fail("gguf: tensor '{}': {} bytes given, its shape and type need {}", name, nbytes, need);
  tensors_.push_back({std::move(name), type, std::move(shape), static_cast<const uint8_t*>(data), nbytes, {}});
}

void Writer::add_tensor(std::string name, TensorType type, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
  add_tensor(std::move(name), type, std::move(shape), bytes.data(), bytes.size());
  tensors_.back().owned = std::move(bytes);  // moving a vector keeps its buffer, so data stays valid
}

namespace {

class Out {
 public:
  explicit Out(FileWriter& f) : f_(f) {}
  template <typename T>
  void pod(T v) {
    f_.write(&v, sizeof v);
    pos_ += sizeof v;
  }
  void bytes(const void* p, size_t n) {
    f_.write(p, n);
    pos_ += n;
  }
  void bytes(const void* p, size_t n, Progress& progress) {
    f_.write(p, n, progress);
    pos_ += n;
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t align) {
    static const char zeros[64] = {};
    while (pos_ % align) bytes(zeros, std::min<uint64_t>(align - pos_ % align, sizeof zeros));
  }
  uint64_t pos() const { return pos_; }

 private:
  FileWriter& f_;
  uint64_t pos_ = 0;
};

// A path that is there and is not a regular file (a symlink to one counts as one), such as
// /dev/null, /dev/full or a FIFO: written in place, since renaming over it would replace it.
bool is_special_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  return !ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st);
}

}  // namespace

void Writer::write(const std::filesystem::path& path) const {
  // A regular file is written as path.tmp and renamed over path once complete, so that a failed
  // write never leaves a truncated GGUF behind (the .tmp is removed).
  const bool in_place = is_special_file(path);
  const std::filesystem::path tmp = in_place ? path : std::filesystem::path(path.string() + ".tmp");
  try {
    write_to(tmp);
  } catch (...) {
    std::error_code ec;
    if (!in_place) std::filesystem::remove(tmp, ec);
    throw;
  }
  if (in_place) return;
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail("{}: cannot rename '{}' to it: {}", path.string(), tmp.string(), ec.message());
  }
}

void Writer::write_to(const std::filesystem::path& file) const {
  FileWriter f(file);
  Out o(f);
  o.pod<uint32_t>(kMagic);
  o.pod<uint32_t>(kVersion);
  o.pod<uint64_t>(tensors_.size());
  o.pod<uint64_t>(kvs_.size());
  for (const auto& [key, val] : kvs_) {
    o.str(key);
    o.pod<uint32_t>(uint32_t(val.type));
    switch (val.type) {
      case ValueType::U32: o.pod<uint32_t>(uint32_t(std::get<uint64_t>(val.v))); break;
      case ValueType::U64: o.pod<uint64_t>(std::get<uint64_t>(val.v)); break;
      case ValueType::I32: o.pod<int32_t>(int32_t(std::get<int64_t>(val.v))); break;
      case ValueType::F32: o.pod<float>(float(std::get<double>(val.v))); break;
      case ValueType::Bool: o.pod<uint8_t>(std::get<bool>(val.v) ? 1 : 0); break;
      case ValueType::String: o.str(std::get<std::string>(val.v)); break;
      case ValueType::Array:
        if (auto* s = std::get_if<std::vector<std::string>>(&val.v)) {
          o.pod<uint32_t>(uint32_t(ValueType::String));
          o.pod<uint64_t>(s->size());
          for (const auto& e : *s) o.str(e);
        } else {
          const auto& a = std::get<std::vector<int32_t>>(val.v);
          o.pod<uint32_t>(uint32_t(ValueType::I32));
          o.pod<uint64_t>(a.size());
          o.bytes(a.data(), a.size() * sizeof(int32_t));
        }
        break;
      default: fail("gguf: key '{}' has a value type this writer does not emit", key);
    }
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    o.str(t.name);
    o.pod<uint32_t>(uint32_t(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) o.pod<uint64_t>(uint64_t(*it));
    o.pod<uint32_t>(uint32_t(t.type));
    o.pod<uint64_t>(offset);
    offset += (t.nbytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  o.pad_to(kAlignment);
  int64_t data_bytes = 0;
  for (const auto& t : tensors_) data_bytes += int64_t(t.nbytes);
  Progress progress("writing " + file.string(), data_bytes);
  for (const auto& t : tensors_) {
    o.bytes(t.data, t.nbytes, progress);
    o.pad_to(kAlignment);
  }
  f.close();
}

}  // namespace qwen3::gguf
