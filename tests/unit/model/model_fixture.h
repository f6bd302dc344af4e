// Shared by the model tests: tiny random checkpoints written once per test binary.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "io/safetensors.h"
#include "testing/test_model.h"

namespace qwen3::testing {

namespace fs = std::filesystem;

inline fs::path scratch_dir() {
  static fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("qwen3_model_test_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    std::atexit([] { fs::remove_all(fs::temp_directory_path() / ("qwen3_model_test_" + std::to_string(::getpid()))); });
    return p;
  }();
  return d;
}

// A tiny checkpoint (cached by name) with the given dtype and config overrides.
inline fs::path tiny_model(const std::string& name, DType dt = DType::F32, const std::string& override_json = "{}",
                           int shards = 1) {
  static std::map<std::string, fs::path> made;
  auto it = made.find(name);
  if (it != made.end()) return it->second;
  TestModelOptions o;
  o.preset = "tiny";
  o.seed = 7;
  o.dtype = dt;
  o.shards = shards;
  o.override_config = nlohmann::ordered_json::parse(override_json);
  o.out = scratch_dir() / name;
  make_test_model(o);
  made[name] = o.out;
  return o.out;
}

// Copies a checkpoint folder, letting `edit` change the tensor list before writing it as one file.
struct EditableTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
template <typename Edit>
fs::path edited_copy(const fs::path& src, const std::string& name, Edit edit) {
  fs::path dst = scratch_dir() / name;
  fs::remove_all(dst);
  fs::create_directories(dst);
  fs::copy_file(src / "config.json", dst / "config.json");
  std::vector<EditableTensor> ts;
  {
    Checkpoint c = Checkpoint::open(src);
    for (auto& [n, t] : c.tensors()) ts.push_back({n, t->dtype_str, t->shape, std::vector<uint8_t>(t->data, t->data + t->nbytes)});
  }
  edit(ts);
  std::vector<TensorToWrite> tw;
  for (auto& t : ts) tw.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  write_safetensors(dst / "model.safetensors", tw);
  return dst;
}

}  // namespace qwen3::testing
