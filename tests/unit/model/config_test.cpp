#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <unistd.h>

#include "core/error.h"
#include "model/qwen3_config.h"

namespace qwen3 {
namespace {

using nlohmann::json;

json minimal() {
  return json::parse(R"({"vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "max_position_embeddings": 256,
    "rope_theta": 1000000, "rms_norm_eps": 1e-6, "tie_word_embeddings": true, "hidden_act": "silu",
    "eos_token_id": [5, 6], "bos_token_id": 1, "torch_dtype": "bfloat16"})");
}

std::string error_of(const json& j) {
  try {
    Qwen3Config::from_json(j, "dir/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ParsesEveryField) {
  Qwen3Config c = Qwen3Config::from_json(minimal(), "x");
  EXPECT_EQ(c.vocab_size, 100);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.hidden_act, Activation::SiLU);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.torch_dtype, DType::BF16);
  EXPECT_EQ(c.rope_scaling.type, RopeType::Default);
}

TEST(Config, HeadDimFallsBackOnlyWhenAbsent) {
  json j = minimal();
  j.erase("head_dim");
  EXPECT_EQ(Qwen3Config::from_json(j, "x").head_dim, 16);
  j["head_dim"] = nullptr;
  EXPECT_EQ(Qwen3Config::from_json(j, "x").head_dim, 16);
}

TEST(Config, Activations) {
  json j = minimal();
  for (auto [name, act] : std::vector<std::pair<const char*, Activation>>{{"silu", Activation::SiLU},
                                                                          {"swish", Activation::SiLU},
                                                                          {"gelu", Activation::GeluErf},
                                                                          {"gelu_new", Activation::GeluTanh},
                                                                          {"gelu_pytorch_tanh", Activation::GeluTanh},
                                                                          {"relu", Activation::ReLU}}) {
    j["hidden_act"] = name;
    EXPECT_EQ(Qwen3Config::from_json(j, "x").hidden_act, act) << name;
  }
  j["hidden_act"] = "mish";
  EXPECT_NE(error_of(j).find("unsupported hidden_act \"mish\""), std::string::npos);
}

TEST(Config, MissingOrNonNumericFieldsNameTheFileAndField) {
  json j = minimal();
  j.erase("hidden_size");
  EXPECT_EQ(error_of(j), "dir/config.json: missing required field \"hidden_size\"");
  j = minimal();
  j["num_hidden_layers"] = "two";
  EXPECT_EQ(error_of(j), "dir/config.json: field \"num_hidden_layers\" must be an integer, got \"two\"");
  j = minimal();
  j["rms_norm_eps"] = "small";
  EXPECT_EQ(error_of(j), "dir/config.json: field \"rms_norm_eps\" must be a number, got \"small\"");
  j = minimal();
  j["num_attention_heads"] = 0;
  EXPECT_NE(error_of(j).find("must be positive"), std::string::npos);
  j = minimal();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j).find("not a multiple of num_key_value_heads 3"), std::string::npos);
  j = minimal();
  j["tie_word_embeddings"] = "yes";
  EXPECT_NE(error_of(j).find("tie_word_embeddings"), std::string::npos);
  EXPECT_NE(error_of(json::array()).find("not a JSON object"), std::string::npos);
  j = minimal();
  j["num_attention_heads"] = int64_t(1) << 32;
  EXPECT_NE(error_of(j).find("more than this engine accepts"), std::string::npos);
  j = minimal();
  j["vocab_size"] = json::parse(std::string(50000, '[') + std::string(50000, ']'));
  EXPECT_EQ(error_of(j), "dir/config.json: field \"vocab_size\" must be an integer, got an array");
  j = minimal();
  j["use_sliding_window"] = true;
  EXPECT_NE(error_of(j).find("sliding-window attention is not supported"), std::string::npos);
  j = minimal();
  j["layer_types"] = {"full_attention", "sliding_attention"};
  EXPECT_NE(error_of(j).find("only \"full_attention\""), std::string::npos);
  j = minimal();
  j["model_type"] = "llama";
  EXPECT_NE(error_of(j).find("model_type"), std::string::npos);
}

TEST(Rope, DefaultInvFreq) {
  Qwen3Config c = Qwen3Config::from_json(minimal(), "x");
  RopeParams r = compute_rope(c);
  ASSERT_EQ(r.inv_freq.size(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_DOUBLE_EQ(r.inv_freq[size_t(i)], std::pow(1e6, -2.0 * i / 32));
  EXPECT_EQ(r.attention_scaling, 1.0);
}

TEST(Rope, Linear) {
  json j = minimal();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  RopeParams r = compute_rope(Qwen3Config::from_json(j, "x"));
  for (int i = 0; i < 16; ++i) EXPECT_DOUBLE_EQ(r.inv_freq[size_t(i)], std::pow(1e6, -2.0 * i / 32) / 2);
}

// Worked by hand from transformers' _compute_yarn_parameters with head_dim 32, theta 1e6,
// factor 4, original_max_position_embeddings 32:
//   correction_dim(r) = 32 ln(32 / (2 pi r)) / (2 ln 1e6)
//   beta_fast 32 -> -2.1285 -> floor -3 -> max(., 0) = 0;  beta_slow 1 -> 1.8852 -> ceil 2
//   ramp(i) = clamp(i / 2, 0, 1); inv_freq = interp * ramp + extrap * (1 - ramp)
//   attention_factor = 0.1 ln 4 + 1 = 1.1386294361
TEST(Rope, YarnMatchesHandComputation) {
  json j = minimal();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32}};
  RopeParams r = compute_rope(Qwen3Config::from_json(j, "x"));
  EXPECT_NEAR(r.attention_scaling, 1.1386294361, 1e-10);
  auto base = [](int i) { return std::pow(1e6, -2.0 * i / 32); };
  EXPECT_DOUBLE_EQ(r.inv_freq[0], base(0));
  EXPECT_DOUBLE_EQ(r.inv_freq[1], 0.5 * base(1) / 4 + 0.5 * base(1));
  for (int i = 2; i < 16; ++i) EXPECT_DOUBLE_EQ(r.inv_freq[size_t(i)], base(i) / 4);
  j["rope_scaling"]["attention_factor"] = 0.5;
  EXPECT_EQ(compute_rope(Qwen3Config::from_json(j, "x")).attention_scaling, 0.5);
  j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  EXPECT_NE(error_of(j).find("unsupported rope_type \"dynamic\""), std::string::npos);
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 0.5}};
  EXPECT_NE(error_of(j).find("\"factor\" is 0.5, outside the sane range [1, 1024]"), std::string::npos) << error_of(j);
  // No factor: max_position_embeddings / original_max_position_embeddings (256 / 32 = 8).
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"original_max_position_embeddings", 32}};
  EXPECT_DOUBLE_EQ(Qwen3Config::from_json(j, "x").rope_scaling.factor, 8.0);
  // A top-level original_max_position_embeddings wins over the one in rope_scaling.
  j["rope_scaling"]["factor"] = 4.0;
  j["original_max_position_embeddings"] = 64;
  EXPECT_EQ(Qwen3Config::from_json(j, "x").rope_scaling.original_max_position_embeddings, 64);
}

// The context: max_position_embeddings (256 in minimal()), or YaRN's original x factor when longer.
TEST(Config, MaxContextIsYarnsWhenLonger) {
  json j = minimal();
  EXPECT_EQ(Qwen3Config::from_json(j, "x").max_context(), 256);
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 4.0}};
  EXPECT_EQ(Qwen3Config::from_json(j, "x").max_context(), 256);
  // Qwen3's documented YaRN setting: 40960 positions in config.json, factor 4 over 32768.
  j["max_position_embeddings"] = 40960;
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  EXPECT_EQ(Qwen3Config::from_json(j, "x").max_context(), 131072);
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 1.0}, {"original_max_position_embeddings", 32768}};
  EXPECT_EQ(Qwen3Config::from_json(j, "x").max_context(), 40960);  // 32768 x 1 is shorter
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 2.5}};  // no original: max_position_embeddings x factor
  EXPECT_EQ(Qwen3Config::from_json(j, "x").max_context(), 102400);
}

}  // namespace
}  // namespace qwen3

namespace qwen3 {
namespace {

TEST(GenerationConfig, ParsesQwen3DefaultsAndToleratesAbsence) {
  auto dir = std::filesystem::temp_directory_path() / ("qwen3_gen_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "generation_config.json") << R"({"bos_token_id": 151643, "do_sample": true,
      "eos_token_id": [151645, 151643], "pad_token_id": 151643, "temperature": 0.6, "top_k": 20, "top_p": 0.95})";
  }
  GenerationConfig g = GenerationConfig::load(dir / "generation_config.json");
  EXPECT_EQ(g.eos_token_ids, (std::vector<int32_t>{151645, 151643}));
  EXPECT_TRUE(g.do_sample);
  EXPECT_DOUBLE_EQ(g.temperature, 0.6);
  EXPECT_EQ(g.top_k, 20);
  EXPECT_DOUBLE_EQ(g.top_p, 0.95);
  EXPECT_EQ(g.pad_token_id, 151643);
  GenerationConfig none = GenerationConfig::load(dir / "absent.json");
  EXPECT_FALSE(none.do_sample);
  EXPECT_TRUE(none.eos_token_ids.empty());
  { std::ofstream(dir / "bad.json") << R"({"temperature": "hot"})"; }
  EXPECT_THROW(GenerationConfig::load(dir / "bad.json"), Error);
  // Token ids are int32_t: a value past 32 bits is refused, not cast (and with a vocabulary, ids
  // past it are refused too).
  for (const char* ids : {"4294967301", "[2, 2147483648]", "-2147483649", "18446744073709551615"}) {
    std::ofstream(dir / "wide.json") << R"({"eos_token_id": )" << ids << "}";
    try {
      GenerationConfig::load(dir / "wide.json");
      ADD_FAILURE() << ids << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("eos_token_id"), std::string::npos) << e.what();
    }
  }
  { std::ofstream(dir / "big.json") << R"({"eos_token_id": [151645, 151936]})"; }
  EXPECT_EQ(GenerationConfig::load(dir / "big.json").eos_token_ids.size(), 2u);
  EXPECT_THROW(GenerationConfig::load(dir / "big.json", 151936), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qwen3
