// Values that parse but no real model has: refused with the file and the field named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/file_io.h"
#include "model/qwen3_config.h"

namespace qwen3 {
namespace {

using nlohmann::json;

json minimal() {
  return json::parse(R"({"vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "max_position_embeddings": 256,
    "rope_theta": 1000000, "rms_norm_eps": 1e-6, "eos_token_id": [5, 6], "bos_token_id": 1})");
}

std::string error_of(const json& j) {
  try {
    Qwen3Config::from_json(j, "dir/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string error_with(const char* key, const json& v) {
  json j = minimal();
  j[key] = v;
  return error_of(j);
}

#define EXPECT_CONTAINS(s, frag) EXPECT_NE((s).find(frag), std::string::npos) << (s)

TEST(ConfigRange, TokenIdsOutsideTheVocabulary) {
  EXPECT_CONTAINS(error_with("eos_token_id", -1), "dir/config.json: field \"eos_token_id\" holds -1, outside the vocabulary [0, 100)");
  EXPECT_CONTAINS(error_with("eos_token_id", int64_t(1000000000000)), "\"eos_token_id\" holds 1000000000000");
  EXPECT_CONTAINS(error_with("eos_token_id", json::array({5, 100})), "\"eos_token_id\" holds 100");
  EXPECT_CONTAINS(error_with("bos_token_id", -5), "\"bos_token_id\" holds -5");
  EXPECT_EQ(error_with("eos_token_id", json::array({0, 99})), "");
}

TEST(ConfigRange, NormEpsAndRopeTheta) {
  EXPECT_CONTAINS(error_with("rms_norm_eps", 1e300), "dir/config.json: field \"rms_norm_eps\" is 1e+300, outside the sane range (0, 0.1]");
  EXPECT_CONTAINS(error_with("rms_norm_eps", 0), "\"rms_norm_eps\"");
  EXPECT_CONTAINS(error_with("rms_norm_eps", -1e-6), "\"rms_norm_eps\"");
  EXPECT_CONTAINS(error_with("rope_theta", 1e300), "dir/config.json: field \"rope_theta\" is 1e+300");
  EXPECT_CONTAINS(error_with("rope_theta", 0), "\"rope_theta\"");
  EXPECT_CONTAINS(error_with("rope_theta", -5), "\"rope_theta\"");
  EXPECT_EQ(error_with("rms_norm_eps", 1e-5), "");
  EXPECT_EQ(error_with("rope_theta", 5e6), "");
  EXPECT_CONTAINS(error_with("rope_scaling", json{{"rope_type", "linear"}, {"factor", 1e300}}), "\"factor\" is 1e+300");
  EXPECT_CONTAINS(error_with("rope_scaling", json{{"rope_type", "yarn"}, {"factor", 4}, {"beta_fast", -1}}), "\"beta_fast\" is -1");
  EXPECT_CONTAINS(error_with("rope_scaling", json{{"rope_type", "yarn"}, {"factor", 4}, {"attention_factor", 0}}),
                  "\"attention_factor\" is 0");
  EXPECT_EQ(error_with("rope_scaling", json{{"rope_type", "yarn"}, {"factor", 4}, {"beta_fast", 32}, {"beta_slow", 1}}), "");
}

class GenerationConfigRange : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("qwen3_genrange_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    write_file(dir_ / "config.json", minimal().dump());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // The error of loading the model folder's config with this generation_config.json.
  std::string error_of_generation(const std::string& text) {
    write_file(dir_ / "generation_config.json", text);
    try {
      Qwen3Config::load(dir_ / "config.json");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::filesystem::path dir_;
};

// generation_config.json is checked with config.json (its ids against vocab_size), so that any
// command that loads the model refuses it.
TEST_F(GenerationConfigRange, IdsAndSamplingValues) {
  EXPECT_CONTAINS(error_of_generation(R"({"eos_token_id": -1})"), "generation_config.json: field \"eos_token_id\" holds -1");
  EXPECT_CONTAINS(error_of_generation(R"({"eos_token_id": [5, 1000000000000]})"),
                  "generation_config.json: field \"eos_token_id\" holds 1000000000000, outside the vocabulary [0, 100)");
  EXPECT_CONTAINS(error_of_generation(R"({"pad_token_id": 100})"), "\"pad_token_id\" holds 100");
  EXPECT_CONTAINS(error_of_generation(R"({"temperature": -1})"), "generation_config.json: field \"temperature\" is -1");
  EXPECT_CONTAINS(error_of_generation(R"({"top_p": 2})"), "\"top_p\" is 2");
  EXPECT_CONTAINS(error_of_generation(R"({"top_k": -3})"), "\"top_k\" is -3");
  EXPECT_CONTAINS(error_of_generation(R"({"top_p": 1e999})"), "generation_config.json: not valid JSON");
  EXPECT_EQ(error_of_generation(R"({"eos_token_id": [5, 6], "temperature": 0.6, "top_k": 20, "top_p": 0.95})"), "");
  std::filesystem::remove(dir_ / "generation_config.json");
  std::filesystem::create_directory(dir_ / "generation_config.json");
  try {
    Qwen3Config::load(dir_ / "config.json");
    ADD_FAILURE() << "a directory in place of generation_config.json was accepted";
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "generation_config.json: is a directory");
  }
}

}  // namespace
}  // namespace qwen3
