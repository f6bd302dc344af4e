#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "io/npy.h"
#include "io/safetensors.h"

#include "../temp_dir_test.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public TempDirTest {
 protected:
  SafetensorsTest() : TempDirTest("st") {}

  // A file with the given header text and `data_bytes` bytes of data.
  fs::path raw(const std::string& name, const std::string& header, size_t data_bytes, int64_t header_len = -1) {
    fs::path p = dir_ / name;
    std::ofstream out(p, std::ios::binary);
    uint64_t n = header_len < 0 ? header.size() : uint64_t(header_len);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
    out << std::string(data_bytes, '\0');
    return p;
  }

  // Expects opening to fail with a message containing every fragment.
  void expect_error(const fs::path& p, std::initializer_list<const char*> fragments) {
    try {
      SafetensorsFile::open(p);
      FAIL() << "no error for " << p;
    } catch (const Error& e) {
      for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what() << " lacks " << f;
    }
  }

};

TEST_F(SafetensorsTest, ReadsWhatItWrites) {
  float a[6] = {1, 2, 3, 4, 5, 6};
  uint16_t b[3] = {0x3f80, 0x4000, 0xc040};
  write_safetensors(dir_ / "model.safetensors",
                    {{"a", "F32", {2, 3}, a, sizeof a}, {"b", "BF16", {3}, b, sizeof b}});
  auto f = SafetensorsFile::open(dir_ / "model.safetensors");
  ASSERT_EQ(f->tensors().size(), 2u);
  const TensorInfo& ta = f->tensors().at("a");
  EXPECT_EQ(ta.dtype, DType::F32);
  EXPECT_EQ(ta.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(ta.data, a, sizeof a), 0);
  EXPECT_EQ(f->tensors().at("b").dtype, DType::BF16);
  EXPECT_EQ(std::memcmp(f->tensors().at("b").data, b, sizeof b), 0);
  auto c = Checkpoint::open(dir_);
  EXPECT_NE(c.find("a"), nullptr);
  EXPECT_EQ(c.find("zzz"), nullptr);
}

TEST_F(SafetensorsTest, UnsupportedDtypeIsLoadedButMarked) {
  uint8_t d[4] = {};
  write_safetensors(dir_ / "x.safetensors", {{"w", "F8_E4M3", {2, 2}, d, 4}});
  auto f = SafetensorsFile::open(dir_ / "x.safetensors");
  EXPECT_FALSE(f->tensors().at("w").dtype.has_value());
  EXPECT_EQ(f->tensors().at("w").dtype_str, "F8_E4M3");
}

TEST_F(SafetensorsTest, TruncatedFile) {
  fs::path p = dir_ / "t.safetensors";
  std::ofstream(p, std::ios::binary) << "abc";
  expect_error(p, {"t.safetensors", "truncated"});
}

TEST_F(SafetensorsTest, HeaderLengthPastEndOfFile) {
  expect_error(raw("h.safetensors", "{}", 0, 1000), {"h.safetensors", "header length 1000", "past the end"});
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  expect_error(raw("j.safetensors", "{\"a\": [1, 2", 0), {"j.safetensors", "not valid JSON"});
  expect_error(raw("k.safetensors", "[1, 2]", 0), {"k.safetensors", "not a JSON object"});
}

TEST_F(SafetensorsTest, OffsetsOutOfRange) {
  expect_error(raw("o.safetensors", R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8),
               {"o.safetensors", "'w'", "out of range"});
  expect_error(raw("p.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8),
               {"p.safetensors", "'w'", "out of range"});
  expect_error(raw("q.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 8),
               {"q.safetensors", "'w'", "data_offsets"});
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  expect_error(raw("v.safetensors",
                   R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                   16),
               {"v.safetensors", "'a'", "'b'", "overlap"});
}

TEST_F(SafetensorsTest, OverlapHiddenBehindAnEmptyTensorAndDuplicateNames) {
  expect_error(raw("z.safetensors",
                   R"({"a": {"dtype": "F32", "shape": [16], "data_offsets": [0, 64]},
                       "e": {"dtype": "F32", "shape": [0], "data_offsets": [16, 16]},
                       "b": {"dtype": "F32", "shape": [4], "data_offsets": [32, 48]}})",
                   64),
               {"z.safetensors", "'a'", "'b'", "overlap"});
  expect_error(raw("dup.safetensors",
                   R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                       "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                   8),
               {"dup.safetensors", "'a' appears twice"});
  // Deeply nested garbage is reported, not recursed into.
  expect_error(raw("deep.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": " + std::string(100000, '[') +
                                           std::string(100000, ']') + ", \"data_offsets\": [0, 4]}}", 4),
               {"deep.safetensors"});
}

TEST_F(SafetensorsTest, DtypeOrShapeDoesNotMatchSize) {
  expect_error(raw("s.safetensors", R"({"w": {"dtype": "BF16", "shape": [3, 3], "data_offsets": [0, 16]}})", 16),
               {"s.safetensors", "'w'", "need 18"});
  expect_error(raw("d.safetensors", R"({"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}})", 1),
               {"d.safetensors", "'w'", "unknown dtype 'Q7'"});
  expect_error(raw("n.safetensors", R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4),
               {"n.safetensors", "'w'", "shape"});
  expect_error(raw("m.safetensors", R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4), {"m.safetensors", "'w'", "shape"});
}

TEST_F(SafetensorsTest, FolderWithoutCheckpoint) {
  try {
    Checkpoint::open(dir_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no checkpoint"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Checkpoint::open(dir_ / "missing"), Error);
}

TEST_F(SafetensorsTest, ShardedIndex) {
  float a[2] = {1, 2}, b[1] = {3};
  write_safetensors(dir_ / "m-1.safetensors", {{"a", "F32", {2}, a, sizeof a}});
  write_safetensors(dir_ / "m-2.safetensors", {{"b", "F32", {1}, b, sizeof b}});
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors"}})";
  auto c = Checkpoint::open(dir_);
  ASSERT_NE(c.find("b"), nullptr);
  EXPECT_EQ(*reinterpret_cast<const float*>(c.find("b")->data), 3.0f);

  std::ofstream(dir_ / "model.safetensors.index.json") << R"({"weight_map": {"a": "m-2.safetensors"}})";
  try {
    Checkpoint::open(dir_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'a' is listed"), std::string::npos) << e.what();
  }
  std::ofstream(dir_ / "model.safetensors.index.json") << R"({"weight_map": {"a": "../etc/passwd"}})";
  EXPECT_THROW(Checkpoint::open(dir_), Error);
  std::ofstream(dir_ / "model.safetensors.index.json") << R"({"weight_map": {"a": "gone.safetensors"}})";
  EXPECT_THROW(Checkpoint::open(dir_), Error);
  std::ofstream(dir_ / "model.safetensors.index.json") << "not json";
  EXPECT_THROW(Checkpoint::open(dir_), Error);
}

TEST_F(SafetensorsTest, NpyHeaderIsVersion1LittleEndianF4) {
  float d[6] = {1, 2, 3, 4, 5, 6};
  write_npy_f32(dir_ / "x.npy", d, {2, 3});
  std::ifstream in(dir_ / "x.npy", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  ASSERT_GE(s.size(), 10u);
  EXPECT_EQ(s.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  uint16_t hl;
  std::memcpy(&hl, s.data() + 8, 2);
  EXPECT_EQ((10 + hl) % 64, 0);
  std::string header = s.substr(10, hl);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos);
  EXPECT_NE(header.find("'fortran_order': False"), std::string::npos);
  EXPECT_NE(header.find("'shape': (2, 3)"), std::string::npos);
  EXPECT_EQ(header.back(), '\n');
  ASSERT_EQ(s.size(), 10u + hl + sizeof d);
  EXPECT_EQ(std::memcmp(s.data() + 10 + hl, d, sizeof d), 0);
}

}  // namespace
}  // namespace qwen3
