// Safetensors files a user could hand us by mistake or on purpose: holes and trailing bytes, huge
// headers, FIFOs, index files that leave tensors out; and writes that fail.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/file_io.h"
#include "io/gguf_writer.h"
#include "io/npy.h"
#include "io/safetensors.h"

#include "../temp_dir_test.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;

class SafetensorsHardeningTest : public TempDirTest {
 protected:
  SafetensorsHardeningTest() : TempDirTest("sth") {}

  fs::path raw(const std::string& name, const std::string& header, size_t data_bytes) {
    std::string s(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(s.data(), &n, 8);
    write_file(dir_ / name, s + header + std::string(data_bytes, '\0'));
    return dir_ / name;
  }
  template <typename F>
  static std::string error_of(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static std::string open_error(const fs::path& p) {
    return error_of([&] { SafetensorsFile::open(p); });
  }
};

// The data section must be tiled by the tensors (the format forbids holes and trailing bytes).
TEST_F(SafetensorsHardeningTest, HolesAndTrailingBytesAreRefusedWithTheirByteRange) {
  std::string e = open_error(raw("hole.safetensors", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", 12));
  EXPECT_NE(e.find("hole.safetensors: bytes [4, 8) of the data section (after tensor 'a') are not covered"), std::string::npos) << e;
  e = open_error(raw("tail.safetensors", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 12));
  EXPECT_NE(e.find("tail.safetensors: bytes [4, 12) of the data section (after tensor 'a')"), std::string::npos) << e;
  EXPECT_NE(e.find("trailing"), std::string::npos) << e;
  e = open_error(raw("head.safetensors", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8));
  EXPECT_NE(e.find("bytes [0, 4) of the data section (before the first tensor)"), std::string::npos) << e;
  e = open_error(raw("none.safetensors", R"({"__metadata__": {"format": "pt"}})", 3));
  EXPECT_NE(e.find("bytes [0, 3)"), std::string::npos) << e;
  // Empty tensors cover nothing and need no bytes, wherever they point.
  EXPECT_EQ(open_error(raw("ok.safetensors", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})", 4)), "");
}

TEST_F(SafetensorsHardeningTest, NumberOverflowInTheHeaderNamesTheFile) {
  const std::string e = open_error(raw("big.safetensors", R"({"__metadata__": {"x": 1e999}})", 0));
  EXPECT_NE(e.find("big.safetensors: header is not valid JSON"), std::string::npos) << e;
}

// A header of n one-element tensors (~100 bytes an entry: 50,000 make 5 MB; the issue had 4.2 MB).
std::string header_of(int n) {
  std::string h = "{";
  for (int i = 0; i < n; ++i) {
    if (i) h += ',';
    h += fmt::format(R"("model.layers.{}.mlp.gate_proj.weight":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}})", i,
                     4 * i, 4 * i + 4);
  }
  return h + "}";
}

// Parsing was quadratic in the number of tensors (nlohmann's parser callback, used to catch
// duplicate names, rescans the top-level object after each entry): 50,000 entries took 52 s. A
// complexity guard, with a bound far above the linear time (~0.1 s on a quiet machine; seconds on a
// loaded one or under the sanitizers) and far below the quadratic.
TEST_F(SafetensorsHardeningTest, HeaderParseIsLinearInTheTensorCount) {
  double secs[2];
  for (int k = 0; k < 2; ++k) {
    const int n = k ? 50000 : 25000;
    const fs::path p = raw(fmt::format("h{}.safetensors", n), header_of(n), size_t(n) * 4);
    const auto t0 = std::chrono::steady_clock::now();
    auto f = SafetensorsFile::open(p);
    secs[k] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(f->tensors().size(), size_t(n));
    std::printf("%d entries (%.1f MB header): %.3f s\n", n, double(fs::file_size(p)) / 1e6, secs[k]);
  }
  std::printf("50k / 25k: %.2f (linear: 2, quadratic: 4)\n", secs[1] / secs[0]);
  EXPECT_LT(secs[1], std::getenv("QWEN3_SANITIZED") ? 60.0 : 15.0);
  // A duplicate among many is still found.
  std::string h = header_of(50000);
  h.insert(h.size() - 1, R"(,"model.layers.7.mlp.gate_proj.weight":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})");
  const std::string e = open_error(raw("dup.safetensors", h, 200000));
  EXPECT_NE(e.find("'model.layers.7.mlp.gate_proj.weight' appears twice"), std::string::npos) << e;
}

TEST_F(SafetensorsHardeningTest, FifoOrDirectoryInPlaceOfTheWeightsIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((dir_ / "model.safetensors").c_str(), 0600), 0);
  std::string e = error_of([&] { Checkpoint::open(dir_); });
  EXPECT_NE(e.find("model.safetensors: is a FIFO"), std::string::npos) << e;
  fs::remove(dir_ / "model.safetensors");
  fs::create_directory(dir_ / "model.safetensors.index.json");
  e = error_of([&] { Checkpoint::open(dir_); });
  EXPECT_NE(e.find("model.safetensors.index.json: is a directory"), std::string::npos) << e;
}

TEST_F(SafetensorsHardeningTest, IndexThatLeavesATensorOutIsNamed) {
  float a[1] = {1}, b[1] = {2};
  write_safetensors(dir_ / "m-1.safetensors", {{"a", "F32", {1}, a, 4}, {"b", "F32", {1}, b, 4}});
  write_file(dir_ / "model.safetensors.index.json", R"({"weight_map": {"a": "m-1.safetensors"}})");
  const Checkpoint c = Checkpoint::open(dir_);
  EXPECT_NE(c.find("a"), nullptr);
  EXPECT_EQ(c.find("b"), nullptr);          // the index is authoritative
  EXPECT_EQ(c.tensors().count("b"), 1u);    // but the tensor is not forgotten (reported as unexpected)
  std::string e = error_of([&] { c.require("b"); });
  EXPECT_NE(e.find("model.safetensors.index.json: weight_map has no entry for tensor 'b' (though m-1.safetensors holds it)"),
            std::string::npos) << e;
  e = error_of([&] { c.require("zz"); });
  EXPECT_NE(e.find("model.safetensors.index.json: weight_map has no entry for tensor 'zz', and no shard holds it"),
            std::string::npos) << e;
}

TEST_F(SafetensorsHardeningTest, FailedWritesAreErrorsNamingThePath) {
  float a[4] = {};
  std::string e = error_of([&] { write_safetensors("/dev/full", {{"a", "F32", {4}, a, sizeof a}}); });
  EXPECT_NE(e.find("/dev/full: write failed: No space left on device"), std::string::npos) << e;
  e = error_of([&] { write_npy_f32("/dev/full", a, {4}); });
  EXPECT_NE(e.find("/dev/full: write failed: No space left on device"), std::string::npos) << e;
  // GGUF: a device is written in place (renaming a .tmp over it would replace it). Through a link
  // in our folder, so that a regression replaces the link and not /dev/full.
  gguf::Writer w;
  w.add_string("general.architecture", "qwen3");
  w.add_tensor("t", gguf::TensorType::F32, {4}, a, sizeof a);
  fs::create_symlink("/dev/full", dir_ / "full.gguf");
  e = error_of([&] { w.write(dir_ / "full.gguf"); });
  EXPECT_NE(e.find("full.gguf: write failed: No space left on device"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_symlink(dir_ / "full.gguf"));
  EXPECT_FALSE(fs::exists(dir_ / "full.gguf.tmp"));
  // A regular file is still written through a temporary that is renamed.
  w.write(dir_ / "x.gguf");
  EXPECT_TRUE(fs::is_regular_file(dir_ / "x.gguf"));
  EXPECT_FALSE(fs::exists(dir_ / "x.gguf.tmp"));
}

}  // namespace
}  // namespace qwen3
