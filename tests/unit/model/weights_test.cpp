#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "model/qwen3_model.h"
#include "model_fixture.h"

namespace qwen3 {
namespace {

using testing::edited_copy;
using testing::EditableTensor;
using testing::tiny_model;

std::string load_error(const std::filesystem::path& dir, LoadOptions o = {}) {
  try {
    Qwen3Model::load(dir, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_CONTAINS(s, frag) EXPECT_NE(std::string(s).find(frag), std::string::npos) << "'" << (s) << "' lacks '" << (frag) << "'"

TEST(Weights, LoadsEveryDtypeKeepingIt) {
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    auto m = Qwen3Model::load(tiny_model(std::string("plain_") + std::string(dtype_name(dt)), dt));
    const auto& w = m->weights();
    EXPECT_EQ(w.embed_tokens.format, kernels::format_of(dt));
    EXPECT_EQ(w.layers.at(0).qkv.format, kernels::format_of(dt));  // not expanded to f32
    EXPECT_EQ(w.layers[0].qkv.out, (4 + 2 * 2) * 32);
    EXPECT_EQ(w.layers[0].gate_up.out, 2 * 160);
    EXPECT_FALSE(w.lm_head.has_value());
    EXPECT_EQ(w.layers.size(), 3u);
  }
}

TEST(Weights, MissingTensorNamesIt) {
  auto d = edited_copy(tiny_model("plain"), "missing", [](std::vector<EditableTensor>& ts) {
    std::erase_if(ts, [](auto& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
  });
  EXPECT_CONTAINS(load_error(d), "missing tensor 'model.layers.1.mlp.up_proj.weight'");
}

TEST(Weights, WrongShapeNamesTensorAndShapes) {
  auto d = edited_copy(tiny_model("plain"), "shape", [](std::vector<EditableTensor>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.self_attn.o_proj.weight") std::swap(t.shape[0], t.shape[1]);
  });
  auto e = load_error(d);
  EXPECT_CONTAINS(e, "model.safetensors: tensor 'model.layers.0.self_attn.o_proj.weight' has shape [128, 64], expected [64, 128]");
}

// An F8_E4M3 tensor in a checkpoint whose config.json does not declare FP8 (fp8_test.cpp has the
// FP8 checkpoints themselves).
TEST(Weights, Fp8WithoutQuantizationConfigIsRejectedClearly) {
  auto d = edited_copy(tiny_model("plain"), "fp8", [](std::vector<EditableTensor>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.mlp.gate_proj.weight") t.dtype = "F8_E4M3", t.bytes.resize(t.bytes.size() / 4);
  });
  EXPECT_CONTAINS(load_error(d), "'model.layers.0.mlp.gate_proj.weight' is F8_E4M3 but config.json has no quantization_config with quant_method \"fp8\"");
  auto d2 = edited_copy(tiny_model("plain"), "i32", [](std::vector<EditableTensor>& ts) {
    for (auto& t : ts)
      if (t.name == "model.norm.weight") t.dtype = "I32";
  });
  EXPECT_CONTAINS(load_error(d2), "'model.norm.weight' has dtype I32");
}

TEST(Weights, UnexpectedTensorsAreReported) {
  auto d = edited_copy(tiny_model("plain"), "extra", [](std::vector<EditableTensor>& ts) {
    ts.push_back({"model.layers.3.mlp.up_proj.weight", "F32", {1}, std::vector<uint8_t>(4)});
  });
  EXPECT_CONTAINS(load_error(d), "1 unexpected tensor(s)");
  EXPECT_CONTAINS(load_error(d), "'model.layers.3.mlp.up_proj.weight'");
}

TEST(Weights, BiasesPresentExactlyWhenAttentionBias) {
  // Biases in the file but attention_bias false: unexpected.
  auto biased = tiny_model("bias", DType::F32, R"({"attention_bias": true})");
  Qwen3Model::load(biased);
  auto d = edited_copy(biased, "bias_off", [](auto&) {});
  {
    auto cfg = nlohmann::json::parse(std::ifstream(d / "config.json"));
    cfg["attention_bias"] = false;
    std::ofstream(d / "config.json") << cfg.dump();
  }
  EXPECT_CONTAINS(load_error(d), "self_attn.k_proj.bias'");
  // attention_bias true without biases: missing.
  auto d2 = edited_copy(tiny_model("plain"), "bias_missing", [](auto&) {});
  {
    auto cfg = nlohmann::json::parse(std::ifstream(d2 / "config.json"));
    cfg["attention_bias"] = true;
    std::ofstream(d2 / "config.json") << cfg.dump();
  }
  EXPECT_CONTAINS(load_error(d2), "missing tensor 'model.layers.0.self_attn.q_proj.bias'");
}

TEST(Weights, LmHeadOptionalOnlyWhenTied) {
  auto untied = tiny_model("untied", DType::F32, R"({"tie_word_embeddings": false})");
  EXPECT_TRUE(Qwen3Model::load(untied)->weights().lm_head.has_value());
  auto d = edited_copy(untied, "untied_nohead", [](std::vector<EditableTensor>& ts) {
    std::erase_if(ts, [](auto& t) { return t.name == "lm_head.weight"; });
  });
  EXPECT_CONTAINS(load_error(d), "missing tensor 'lm_head.weight'");
  // A tied checkpoint that also carries lm_head.weight loads (transformers ties and ignores it).
  auto d2 = edited_copy(untied, "tied_withhead", [](auto&) {});
  {
    auto cfg = nlohmann::json::parse(std::ifstream(d2 / "config.json"));
    cfg["tie_word_embeddings"] = true;
    std::ofstream(d2 / "config.json") << cfg.dump();
  }
  EXPECT_FALSE(Qwen3Model::load(d2)->weights().lm_head.has_value());
}

TEST(Weights, BadConfigAndMissingFiles) {
  auto d = edited_copy(tiny_model("plain"), "badcfg", [](auto&) {});
  std::ofstream(d / "config.json") << "{\"vocab_size\": 10";
  EXPECT_CONTAINS(load_error(d), "config.json: not valid JSON");
  std::filesystem::remove(d / "config.json");
  EXPECT_CONTAINS(load_error(d), "config.json: missing");
  auto d2 = edited_copy(tiny_model("plain"), "nockpt", [](auto&) {});
  std::filesystem::remove(d2 / "model.safetensors");
  EXPECT_CONTAINS(load_error(d2), "no checkpoint");
}

TEST(Weights, ShardedCheckpointLoadsIdentically) {
  auto one = Qwen3Model::load(tiny_model("plain"));
  auto three = Qwen3Model::load(tiny_model("sharded", DType::F32, "{}", 3));
  const auto& a = one->weights().layers[2].gate_up;
  const auto& b = three->weights().layers[2].gate_up;
  ASSERT_EQ(a.weight.size(), b.weight.size());
  EXPECT_EQ(std::memcmp(a.weight.data(), b.weight.data(), a.weight.size()), 0);
}

TEST(Weights, WorldSizeMustDivideHeadsAndIntermediate) {
  // tiny: 4 heads, 2 kv heads, intermediate 160.
  EXPECT_CONTAINS(load_error(tiny_model("plain"), {.rank = 0, .world_size = 3}),
                  "tensor parallel world size 3 does not divide num_attention_heads = 4, intermediate_size = 160");
  // KV heads: the world size divides them, or is a multiple of them (each then replicated).
  auto odd = tiny_model("kv4-w6", DType::F32,
                        R"({"num_attention_heads": 12, "num_key_value_heads": 4, "intermediate_size": 168})");
  EXPECT_CONTAINS(load_error(odd, {.rank = 0, .world_size = 6}),
                  "tensor parallel world size 6 neither divides nor is a multiple of num_key_value_heads = 4");
}

// More ranks than KV heads: each rank holds the one KV head its query heads read, replicated on
// world_size / num_key_value_heads ranks; the vocabulary is split in 128-row steps.
TEST(Weights, KvHeadsReplicatedOverMoreRanks) {
  auto dir = tiny_model("plain");
  auto full = Qwen3Model::load(dir);
  const int W = 4;
  const int64_t H = 64, D = 32, Hq = 4, Hkv = 2, V = full->config().vocab_size;
  for (int r = 0; r < W; ++r) {
    auto m = Qwen3Model::load(dir, {.rank = r, .world_size = W});
    const Linear& q = m->weights().layers[0].qkv;
    const Linear& f = full->weights().layers[0].qkv;
    ASSERT_EQ(q.out, (Hq / W + 2) * D);
    const int64_t kv_head = r / (W / Hkv);
    for (int64_t i = 0; i < D; ++i) {
      EXPECT_EQ(std::memcmp(q.weight.as<float>() + (D + i) * H, f.weight.as<float>() + (Hq * D + kv_head * D + i) * H, H * 4), 0);
      EXPECT_EQ(std::memcmp(q.weight.as<float>() + (2 * D + i) * H,
                            f.weight.as<float>() + ((Hq + Hkv) * D + kv_head * D + i) * H, H * 4), 0);
    }
    EXPECT_EQ(m->kv_options(1).num_kv_heads, 1);
    const ShardRange v = m->weights().vocab;
    const int64_t per = ((V + W - 1) / W + 127) / 128 * 128;
    EXPECT_EQ(v.begin, std::min<int64_t>(V, r * per));
    EXPECT_EQ(v.size, std::min<int64_t>(V, v.begin + per) - v.begin);
    EXPECT_EQ(m->weights().embed_tokens.out, v.size);
    EXPECT_EQ(std::memcmp(m->weights().embed_tokens.weight.data(),
                          full->weights().embed_tokens.weight.as<float>() + v.begin * H, size_t(v.size * H) * 4), 0);
  }
}

// The slices of all ranks reassemble the full tensors: q/k/v and gate/up by rows (heads,
// intermediate columns), o_proj and down_proj by input columns; norms replicated.
TEST(Weights, RankSlicesReassembleTheFullTensors) {
  auto dir = tiny_model("bias", DType::F32, R"({"attention_bias": true})");
  auto full = Qwen3Model::load(dir);
  const int W = 2;
  std::vector<std::unique_ptr<Qwen3Model>> ranks;
  for (int r = 0; r < W; ++r) ranks.push_back(Qwen3Model::load(dir, {.rank = r, .world_size = W}));
  const int64_t H = 64, D = 32, Hq = 4, Hkv = 2, I = 160;
  // Row r as the kernels read it (the loader may have put the weights in row groups, kernels.h).
  auto row_of = [](const Linear& l, int64_t r) {
    std::vector<float> v(static_cast<size_t>(l.in));
    kernels::load_row(l.view(), r, v.data());
    return v;
  };
  std::vector<std::vector<float>> keep;  // the rows compared, alive until the end of the test
  auto row = [&](const Linear& l, int64_t r) { return keep.emplace_back(row_of(l, r)).data(); };
  for (size_t li = 0; li < 3; ++li) {
    const Qwen3Layer& F = full->weights().layers[li];
    // Fused full qkv rows: q (Hq*D) | k (Hkv*D) | v (Hkv*D). Rank r holds q_r | k_r | v_r.
    int64_t q_next = 0, k_next = Hq * D, v_next = (Hq + Hkv) * D;
    for (int r = 0; r < W; ++r) {
      const Qwen3Layer& R = ranks[size_t(r)]->weights().layers[li];
      ASSERT_EQ(R.qkv.out, (Hq + 2 * Hkv) * D / W);
      for (int64_t i = 0; i < R.qkv.out; ++i) {
        int64_t& next = i < Hq * D / W ? q_next : i < (Hq + Hkv) * D / W ? k_next : v_next;
        EXPECT_EQ(std::memcmp(row(R.qkv, i), row(F.qkv, next), size_t(H) * 4), 0);
        EXPECT_EQ(R.qkv.bias[size_t(i)], F.qkv.bias[size_t(next)]);
        ++next;
      }
      // o_proj [H, Hq*D]: rank r holds columns [r*Hq*D/W, (r+1)*Hq*D/W).
      for (int64_t o = 0; o < H; ++o)
        EXPECT_EQ(std::memcmp(row(R.o_proj, o), row(F.o_proj, o) + r * Hq * D / W, size_t(Hq * D / W) * 4), 0);
      EXPECT_EQ(R.o_proj.bias, F.o_proj.bias);  // replicated, added once after the all-reduce
      // gate_up: rank rows gate_r | up_r.
      for (int64_t i = 0; i < I / W; ++i) {
        EXPECT_EQ(std::memcmp(row(R.gate_up, i), row(F.gate_up, r * I / W + i), size_t(H) * 4), 0);
        EXPECT_EQ(std::memcmp(row(R.gate_up, I / W + i), row(F.gate_up, I + r * I / W + i), size_t(H) * 4), 0);
      }
      for (int64_t o = 0; o < H; ++o)
        EXPECT_EQ(std::memcmp(row(R.down, o), row(F.down, o) + r * I / W, size_t(I / W) * 4), 0);
      EXPECT_EQ(R.q_norm, F.q_norm);
      EXPECT_EQ(R.input_layernorm, F.input_layernorm);
    }
    EXPECT_EQ(q_next, Hq * D);
    EXPECT_EQ(k_next, (Hq + Hkv) * D);
    EXPECT_EQ(v_next, (Hq + 2 * Hkv) * D);
  }
  // Vocabulary-parallel by default; replicated on request.
  auto rep = Qwen3Model::load(dir, {.rank = 1, .world_size = W, .vocab_parallel = false});
  EXPECT_EQ(std::memcmp(rep->weights().embed_tokens.weight.data(), full->weights().embed_tokens.weight.data(),
                        full->weights().embed_tokens.weight.size()), 0);
}

}  // namespace
}  // namespace qwen3
