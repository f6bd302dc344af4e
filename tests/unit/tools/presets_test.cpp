// make-test-model's presets against the published checkpoints' config.json. The table is written
// from the config.json files of the Hugging Face repositories Qwen/Qwen3-{0.6B,1.7B,4B,8B,14B,32B}
// (as collected, e.g., in github.com/citsjtu2020/LLM-Prof sglang/Model_Config.md for 4B/8B/14B/32B
// and the Qwen3-0.6B config.json quoted in several repositories; the 1.7B shapes in zyzshishui/slime
// scripts/models/qwen3-1.7B.sh). The -FP8 repositories keep these shapes and add
// quantization_config (fp8, e4m3, dynamic activations, 128x128 weight blocks). docs/models.md
// holds the same table for users.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/qwen3_config.h"
#include "testing/test_model.h"

namespace qwen3 {
namespace {

struct Published {
  const char* preset;
  int64_t hidden, layers, heads, kv_heads, head_dim, intermediate;
  bool tied;
};

// Every published shape shares vocab_size 151936, max_position_embeddings 40960, rope_theta 1e6,
// rms_norm_eps 1e-6, hidden_act silu, no attention bias.
constexpr Published kPublished[] = {
    {"qwen3-0.6b", 1024, 28, 16, 8, 128, 3072, true},
    {"qwen3-1.7b", 2048, 28, 16, 8, 128, 6144, true},
    {"qwen3-4b", 2560, 36, 32, 8, 128, 9728, true},
    {"qwen3-8b", 4096, 36, 32, 8, 128, 12288, false},
    {"qwen3-14b", 5120, 40, 40, 8, 128, 17408, false},
    {"qwen3-32b", 5120, 64, 64, 8, 128, 25600, false},
};

TEST(Presets, MatchThePublishedConfigs) {
  for (const Published& p : kPublished) {
    SCOPED_TRACE(p.preset);
    const auto j = preset_config(p.preset);
    const Qwen3Config c = Qwen3Config::from_json(nlohmann::json::parse(j.dump()), p.preset);
    EXPECT_EQ(c.hidden_size, p.hidden);
    EXPECT_EQ(c.num_hidden_layers, p.layers);
    EXPECT_EQ(c.num_attention_heads, p.heads);
    EXPECT_EQ(c.num_key_value_heads, p.kv_heads);
    EXPECT_EQ(c.head_dim, p.head_dim);
    EXPECT_EQ(c.intermediate_size, p.intermediate);
    EXPECT_EQ(c.tie_word_embeddings, p.tied);
    EXPECT_EQ(c.vocab_size, 151936);
    EXPECT_EQ(c.max_position_embeddings, 40960);
    EXPECT_EQ(j.at("max_window_layers").get<int64_t>(), p.layers);
    EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
    EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  }
  EXPECT_THROW(preset_config("qwen3-7b"), Error);
}

}  // namespace
}  // namespace qwen3
