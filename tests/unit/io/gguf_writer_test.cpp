// The GGUF writer against an independent minimal reader written here from the specification
// (not sharing code with the writer): magic, version, counts, every key/value, tensor infos with
// reversed dimensions, 32-byte aligned offsets, and the tensor bytes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf_writer.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;

struct ReadTensor {
  std::vector<uint64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct ReadFile {
  uint32_t magic = 0, version = 0;
  std::map<std::string, std::pair<uint32_t, std::string>> kv;  // key -> (type, raw value bytes)
  std::vector<std::pair<std::string, ReadTensor>> tensors;
  uint64_t data_start = 0;
  std::string bytes;
};

class Reader {
 public:
  explicit Reader(const std::string& b) : b_(b) {}
  template <typename T>
  T pod() {
    if (p_ + sizeof(T) > b_.size()) throw std::runtime_error("truncated");
    T v;
    std::memcpy(&v, b_.data() + p_, sizeof v);
    p_ += sizeof v;
    return v;
  }
  std::string str() {
    const uint64_t n = pod<uint64_t>();
    if (p_ + n > b_.size()) throw std::runtime_error("truncated string");
    std::string s = b_.substr(p_, n);
    p_ += n;
    return s;
  }
  // The raw bytes of one value of `type` (arrays include their header).
  std::string value(uint32_t type) {
    const size_t start = p_;
    skip(type);
    return b_.substr(start, p_ - start);
  }
  size_t pos() const { return p_; }

 private:
  void skip(uint32_t type) {
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      str();
    } else if (type == 9) {
      const uint32_t et = pod<uint32_t>();
      const uint64_t n = pod<uint64_t>();
      for (uint64_t i = 0; i < n; ++i) skip(et);
    } else if (type < 13) {
      p_ += sizes[type];
    } else {
      throw std::runtime_error("bad type");
    }
  }
  const std::string& b_;
  size_t p_ = 0;
};

ReadFile read_gguf(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  ReadFile f;
  f.bytes.assign(std::istreambuf_iterator<char>(in), {});
  Reader r(f.bytes);
  f.magic = r.pod<uint32_t>();
  f.version = r.pod<uint32_t>();
  const uint64_t nt = r.pod<uint64_t>(), nkv = r.pod<uint64_t>();
  for (uint64_t i = 0; i < nkv; ++i) {
    std::string k = r.str();
    const uint32_t t = r.pod<uint32_t>();
    f.kv[k] = {t, r.value(t)};
  }
  for (uint64_t i = 0; i < nt; ++i) {
    std::string name = r.str();
    ReadTensor t;
    const uint32_t nd = r.pod<uint32_t>();
    for (uint32_t d = 0; d < nd; ++d) t.ne.push_back(r.pod<uint64_t>());
    t.type = r.pod<uint32_t>();
    t.offset = r.pod<uint64_t>();
    f.tensors.push_back({name, t});
  }
  f.data_start = (r.pos() + 31) / 32 * 32;
  return f;
}

template <typename T>
T as(const std::string& raw) {
  T v;
  EXPECT_EQ(raw.size(), sizeof v);
  std::memcpy(&v, raw.data(), sizeof v);
  return v;
}

class GgufWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwen3_gguf_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(GgufWriterTest, KeysShapesOffsetsAlignmentAndBytes) {
  gguf::Writer w;
  w.add_string("general.architecture", "qwen3");
  w.add_u32("qwen3.block_count", 28);
  w.add_f32("qwen3.rope.freq_base", 1e6f);
  w.add_bool("tokenizer.ggml.add_bos_token", false);
  w.add_strings("tokenizer.ggml.tokens", {"a", "bc", ""});
  w.add_i32s("tokenizer.ggml.token_type", {1, 3, 5});
  // A [3, 5] BF16 matrix (30 bytes: not a multiple of 32, so the next tensor needs padding), a
  // 1-D F32 tensor, and a [2, 7] F16 matrix.
  std::vector<uint8_t> m(30), v(4 * 4), h(2 * 7 * 2);
  for (size_t i = 0; i < m.size(); ++i) m[i] = uint8_t(i + 1);
  for (size_t i = 0; i < v.size(); ++i) v[i] = uint8_t(100 + i);
  for (size_t i = 0; i < h.size(); ++i) h[i] = uint8_t(200 + i);
  w.add_tensor("blk.0.attn_q.weight", gguf::TensorType::BF16, {3, 5}, m.data(), m.size());
  w.add_tensor("output_norm.weight", gguf::TensorType::F32, {4}, std::vector<uint8_t>(v));
  w.add_tensor("output.weight", gguf::TensorType::F16, {2, 7}, h.data(), h.size());
  const fs::path p = dir_ / "t.gguf";
  w.write(p);
  EXPECT_FALSE(fs::exists(p.string() + ".tmp"));

  const ReadFile f = read_gguf(p);
  EXPECT_EQ(f.magic, 0x46554747u);
  EXPECT_EQ(std::string(f.bytes.data(), 4), "GGUF");
  EXPECT_EQ(f.version, 3u);
  ASSERT_EQ(f.kv.size(), 6u);
  EXPECT_EQ(f.kv.at("general.architecture").first, 8u);
  EXPECT_EQ(f.kv.at("general.architecture").second, std::string("\x05\0\0\0\0\0\0\0qwen3", 13));
  EXPECT_EQ(f.kv.at("qwen3.block_count").first, 4u);
  EXPECT_EQ(as<uint32_t>(f.kv.at("qwen3.block_count").second), 28u);
  EXPECT_EQ(f.kv.at("qwen3.rope.freq_base").first, 6u);
  EXPECT_EQ(as<float>(f.kv.at("qwen3.rope.freq_base").second), 1e6f);
  EXPECT_EQ(f.kv.at("tokenizer.ggml.add_bos_token").first, 7u);
  EXPECT_EQ(f.kv.at("tokenizer.ggml.add_bos_token").second, std::string(1, '\0'));
  // Array of strings: u32 type 8, u64 count 3, then the strings.
  const std::string toks = f.kv.at("tokenizer.ggml.tokens").second;
  EXPECT_EQ(f.kv.at("tokenizer.ggml.tokens").first, 9u);
  EXPECT_EQ(toks, std::string("\x08\0\0\0" "\x03\0\0\0\0\0\0\0" "\x01\0\0\0\0\0\0\0a" "\x02\0\0\0\0\0\0\0bc"
                              "\0\0\0\0\0\0\0\0", 4 + 8 + 9 + 10 + 8));
  const std::string types = f.kv.at("tokenizer.ggml.token_type").second;
  EXPECT_EQ(types, std::string("\x05\0\0\0" "\x03\0\0\0\0\0\0\0" "\x01\0\0\0\x03\0\0\0\x05\0\0\0", 4 + 8 + 12));

  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.tensors[0].first, "blk.0.attn_q.weight");
  EXPECT_EQ(f.tensors[0].second.ne, (std::vector<uint64_t>{5, 3}));  // reversed: innermost first
  EXPECT_EQ(f.tensors[0].second.type, 30u);
  EXPECT_EQ(f.tensors[0].second.offset, 0u);
  EXPECT_EQ(f.tensors[1].second.ne, (std::vector<uint64_t>{4}));
  EXPECT_EQ(f.tensors[1].second.type, 0u);
  EXPECT_EQ(f.tensors[1].second.offset, 32u);  // 30 bytes padded to 32
  EXPECT_EQ(f.tensors[2].second.ne, (std::vector<uint64_t>{7, 2}));
  EXPECT_EQ(f.tensors[2].second.type, 1u);
  EXPECT_EQ(f.tensors[2].second.offset, 64u);
  EXPECT_EQ(f.data_start % 32, 0u);
  auto data = [&](size_t t, size_t n) { return f.bytes.substr(f.data_start + f.tensors[t].second.offset, n); };
  EXPECT_EQ(data(0, m.size()), std::string(m.begin(), m.end()));
  EXPECT_EQ(data(1, v.size()), std::string(v.begin(), v.end()));
  EXPECT_EQ(data(2, h.size()), std::string(h.begin(), h.end()));
  // Padding between tensors is zeros, and the file ends aligned.
  EXPECT_EQ(f.bytes.substr(f.data_start + 30, 2), std::string(2, '\0'));
  EXPECT_EQ(f.bytes.size() % 32, 0u);
  EXPECT_GE(f.bytes.size(), f.data_start + 64 + h.size());
}

TEST_F(GgufWriterTest, ClearErrors) {
  EXPECT_EQ(gguf::tensor_type_of("BF16", "x"), gguf::TensorType::BF16);
  EXPECT_EQ(gguf::tensor_type_of("F16", "x"), gguf::TensorType::F16);
  EXPECT_EQ(gguf::tensor_type_of("F32", "x"), gguf::TensorType::F32);
  for (const char* bad : {"F8_E4M3", "I8", "U8", "F64", ""}) {
    try {
      gguf::tensor_type_of(bad, "model.layers.0.mlp.up_proj.weight");
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj.weight"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("F32, BF16 or F16"), std::string::npos) << e.what();
    }
  }
  gguf::Writer w;
  std::vector<uint8_t> b(6);
  EXPECT_THROW(w.add_tensor("t", gguf::TensorType::F32, {3}, b.data(), b.size()), Error);  // 12 bytes needed
  EXPECT_THROW(w.add_tensor("t", gguf::TensorType::F16, {}, b.data(), b.size()), Error);
  EXPECT_THROW(w.add_tensor("t", gguf::TensorType::F16, {0, 3}, b.data(), b.size()), Error);
  // A shape whose byte count wraps to 0 in size_t (found by the gguf_writer fuzzer).
  EXPECT_THROW(w.add_tensor("t", gguf::TensorType::BF16, {27197700, 604731395276800, 844424930131968}, b.data(), 0), Error);
  EXPECT_THROW(w.add_tensor("t", gguf::TensorType::F32, {int64_t(1) << 62}, b.data(), 0), Error);
  w.add_tensor("t", gguf::TensorType::F16, {3}, b.data(), b.size());
  EXPECT_THROW(w.add_tensor("t", gguf::TensorType::F16, {3}, b.data(), b.size()), Error);  // repeated name
  w.add_u32("k", 1);
  EXPECT_THROW(w.add_u32("k", 2), Error);
  EXPECT_THROW(w.write(dir_ / "no" / "such" / "dir.gguf"), Error);
}

}  // namespace
}  // namespace qwen3
