// FP8 checkpoints (Hugging Face layout: F8_E4M3 weights with 128 x 128 weight_scale_inv blocks):
// quantization on load, `qwen3 quantize --quant fp8`, tensor-parallel slices, and the errors for
// malformed checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "model/quantized_checkpoint.h"
#include "model/qwen3_model.h"
#include "model_fixture.h"

namespace qwen3 {
namespace {

using kernels::WFormat;
using testing::edited_copy;
using testing::EditableTensor;
using testing::scratch_dir;
using testing::tiny_model;

// A tiny FP8 checkpoint written by make-test-model --fp8 (cached by name).
std::filesystem::path fp8_model(const std::string& name, DType scale_dt = DType::F32, const std::string& over = "{}") {
  static std::map<std::string, std::filesystem::path> made;
  if (auto it = made.find(name); it != made.end()) return it->second;
  TestModelOptions o;
  o.seed = 9, o.dtype = DType::BF16, o.fp8 = true, o.fp8_scale_dtype = scale_dt;
  o.override_config = nlohmann::ordered_json::parse(over);
  o.out = scratch_dir() / name;
  make_test_model(o);
  return made[name] = o.out;
}

std::string load_error(const std::filesystem::path& dir, LoadOptions o = {}) {
  try {
    Qwen3Model::load(dir, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_CONTAINS(s, frag) EXPECT_NE(std::string(s).find(frag), std::string::npos) << "'" << (s) << "' lacks '" << (frag) << "'"

void expect_same(const Linear& a, const Linear& b, const char* what) {
  ASSERT_EQ(a.format, b.format) << what;
  ASSERT_EQ(a.out, b.out) << what;
  ASSERT_EQ(a.in, b.in) << what;
  ASSERT_EQ(a.weight.size(), b.weight.size()) << what;
  EXPECT_EQ(std::memcmp(a.weight.data(), b.weight.data(), a.weight.size()), 0) << what;
  ASSERT_EQ(a.scales.size(), b.scales.size()) << what;
  if (a.scales.size()) {
    EXPECT_EQ(std::memcmp(a.scales.data(), b.scales.data(), a.scales.size()), 0) << what;
  }
  EXPECT_EQ(a.scale_rows, b.scale_rows) << what;
  EXPECT_EQ(a.bias, b.bias) << what;
}

void set_config(const std::filesystem::path& dir, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j;
  {
    std::ifstream in(dir / "config.json");
    j = nlohmann::json::parse(in);
  }
  edit(j);
  std::ofstream(dir / "config.json") << j.dump(2);
}

TEST(Fp8, QuantizeOnLoadKeepsEachPartsGridAndTheTablesAsStored) {
  const auto dir = tiny_model("fp8src_f32", DType::F32);
  auto ref = Qwen3Model::load(dir);
  LoadOptions o;
  o.quant = Quant::Fp8;
  auto m = Qwen3Model::load(dir, o);
  const auto &L = m->weights().layers.at(1), &R = ref->weights().layers.at(1);
  for (const Linear* l : {&L.qkv, &L.o_proj, &L.gate_up, &L.down}) EXPECT_EQ(l->format, WFormat::FP8);
  EXPECT_EQ(m->weights().embed_tokens.format, WFormat::F32);  // as stored, as in Qwen's FP8 repositories
  EXPECT_EQ(L.q_norm, R.q_norm);
  // q 128 rows | k 64 | v 64: k and v each have their own scale row (3 in all), so rows 192.. read row 2.
  ASSERT_EQ(L.qkv.scale_rows.size(), 256u);
  EXPECT_EQ(L.qkv.scale_rows[127], 0);
  EXPECT_EQ(L.qkv.scale_rows[128], 1);
  EXPECT_EQ(L.qkv.scale_rows[191], 1);
  EXPECT_EQ(L.qkv.scale_rows[192], 2);
  EXPECT_EQ(L.qkv.scales.size(), 3u * 1 * 4);
  EXPECT_EQ(L.gate_up.scale_rows[160], 2);  // gate 160 rows = block rows 0, 1; up starts at 2
  EXPECT_TRUE(L.down.scale_rows.empty());
  // Within half an e4m3 step of the original: 2^-4 relative, or 2^-10 of the scale below 2^-6.
  std::vector<float> rq(size_t(L.gate_up.in)), rf(rq.size());
  for (int64_t r = 0; r < L.gate_up.out; ++r) {
    kernels::load_row(L.gate_up.view(), r, rq.data());
    kernels::load_row(R.gate_up.view(), r, rf.data());
    const float s = L.gate_up.scales.as<float>()[L.gate_up.scale_rows[size_t(r)]];
    for (size_t i = 0; i < rq.size(); ++i)
      ASSERT_LE(std::fabs(rq[i] - rf[i]), std::max(std::fabs(rf[i]) / 16, std::ldexp(s, -10)) * 1.0001f) << r << " " << i;
  }
  EXPECT_LT(m->weights().bytes(), ref->weights().bytes());
}

TEST(Fp8, WrittenCheckpointLoadsToTheSameBytes) {
  for (bool tied : {true, false}) {
    const std::string name = std::string("fp8w_") + (tied ? "tied" : "untied");
    const auto dir = tiny_model(name, DType::BF16, tied ? R"({"attention_bias": true})" : R"({"tie_word_embeddings": false})");
    LoadOptions o;
    o.quant = Quant::Fp8;
    auto m = Qwen3Model::load(dir, o);
    const auto out = scratch_dir() / (name + "_fp8");
    write_quantized_checkpoint(dir, m->config(), m->weights(), Quant::Fp8, out);
    auto back = Qwen3Model::load(out);
    EXPECT_EQ(back->config().quantization, CheckpointQuant::Fp8);
    const Qwen3Weights &a = m->weights(), &b = back->weights();
    expect_same(a.embed_tokens, b.embed_tokens, "embed");
    ASSERT_EQ(a.lm_head.has_value(), b.lm_head.has_value());
    if (a.lm_head) expect_same(*a.lm_head, *b.lm_head, "lm_head");
    for (size_t l = 0; l < a.layers.size(); ++l) {
      expect_same(a.layers[l].qkv, b.layers[l].qkv, "qkv");
      expect_same(a.layers[l].o_proj, b.layers[l].o_proj, "o_proj");
      expect_same(a.layers[l].gate_up, b.layers[l].gate_up, "gate_up");
      expect_same(a.layers[l].down, b.layers[l].down, "down");
    }
    EXPECT_CONTAINS(load_error(out, o), "already quantized (fp8)");
  }
}

// --head: an fp8 checkpoint's bf16 tables (and an untied head) can be read as q8; --quant q8 can
// keep them as stored; a q8 table of a pre-quantized checkpoint is never requantized.
TEST(Fp8, HeadFormatOption) {
  const auto dir = tiny_model("fp8head_untied", DType::BF16, R"({"tie_word_embeddings": false})");
  LoadOptions o;
  o.quant = Quant::Fp8;
  auto m = Qwen3Model::load(dir, o);
  const auto out = scratch_dir() / "fp8head_untied_fp8";
  write_quantized_checkpoint(dir, m->config(), m->weights(), Quant::Fp8, out);
  LoadOptions h;
  h.head = HeadFormat::Q8;
  auto q = Qwen3Model::load(out, h);
  EXPECT_EQ(q->weights().embed_tokens.format, WFormat::Q8);
  ASSERT_TRUE(q->weights().lm_head.has_value());
  EXPECT_EQ(q->weights().lm_head->format, WFormat::Q8);
  EXPECT_EQ(q->weights().layers.at(0).gate_up.format, WFormat::FP8);
  EXPECT_LT(q->weights().bytes(), Qwen3Model::load(out)->weights().bytes());
  LoadOptions s;
  s.quant = Quant::Q8;
  s.head = HeadFormat::Stored;
  auto k = Qwen3Model::load(dir, s);
  EXPECT_EQ(k->weights().embed_tokens.format, WFormat::BF16);
  EXPECT_EQ(k->weights().lm_head->format, WFormat::BF16);
  EXPECT_EQ(k->weights().layers.at(0).down.format, WFormat::Q8);
}

TEST(Fp8, AllScaleDtypesLoad) {
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    const auto dir = fp8_model(std::string("fp8s_") + std::string(dtype_name(dt)), dt);
    auto m = Qwen3Model::load(dir);
    const Linear& down = m->weights().layers.at(2).down;
    ASSERT_EQ(down.format, WFormat::FP8);
    Checkpoint c = Checkpoint::open(dir);
    const TensorInfo* s = c.find("model.layers.2.mlp.down_proj.weight_scale_inv");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->dtype_str, dtype_name(dt));
    EXPECT_EQ(s->shape, (std::vector<int64_t>{1, 2}));  // [64, 160]: one row block, two column blocks
    std::vector<float> want(2);
    kernels::load_row({kernels::format_of(dt), s->data, 1, 2}, 0, want.data());
    EXPECT_EQ(down.scales.as<float>()[0], want[0]);
    EXPECT_EQ(down.scales.as<float>()[1], want[1]);
  }
}

// Tensor parallelism: slices that take whole blocks load, and equal the whole model's blocks.
TEST(Fp8, ShardsOnBlockBoundariesMatchTheWhole) {
  const auto dir = fp8_model("fp8tp", DType::F32, R"({"head_dim": 128, "intermediate_size": 256})");
  auto whole = Qwen3Model::load(dir);
  LoadOptions r1;
  r1.rank = 1, r1.world_size = 2;
  auto part = Qwen3Model::load(dir, r1);
  const auto &W = whole->weights().layers[0], &P = part->weights().layers[0];
  std::vector<float> rw(size_t(W.o_proj.in)), rp(size_t(P.o_proj.in));
  ASSERT_EQ(P.o_proj.in, 256);  // columns [256, 512) of 512
  for (int64_t r = 0; r < W.o_proj.out; ++r) {
    kernels::load_row(W.o_proj.view(), r, rw.data());
    kernels::load_row(P.o_proj.view(), r, rp.data());
    for (int64_t i = 0; i < 256; ++i) ASSERT_EQ(rp[size_t(i)], rw[size_t(256 + i)]);
  }
  // Rank 1's gate rows are the whole's gate rows [128, 256); its up rows the whole's [384, 512).
  std::vector<float> gw(size_t(W.gate_up.in)), gp(gw.size());
  for (int64_t r = 0; r < 128; ++r) {
    kernels::load_row(W.gate_up.view(), 128 + r, gw.data());
    kernels::load_row(P.gate_up.view(), r, gp.data());
    ASSERT_EQ(gw, gp);
    kernels::load_row(W.gate_up.view(), 384 + r, gw.data());
    kernels::load_row(P.gate_up.view(), 128 + r, gp.data());
    ASSERT_EQ(gw, gp);
  }
}

TEST(Fp8, ShardBoundaryInsideABlockIsRefused) {
  // tiny: q_proj has 4 heads x 32 = 128 rows; 2 ranks take rows [0, 64) and [64, 128): inside a block.
  LoadOptions r1;
  r1.rank = 1, r1.world_size = 2;
  const auto e = load_error(fp8_model("fp8s_F32"), r1);
  EXPECT_CONTAINS(e, "'model.layers.0.self_attn.q_proj.weight'");
  EXPECT_CONTAINS(e, "rows [64, 128) of 128 do not fall on the 128-row FP8 scale blocks");
}

TEST(Fp8, MalformedCheckpointsAreRefused) {
  const auto good = fp8_model("fp8s_F32");
  auto erase = [](const std::string& n) {
    return [n](std::vector<EditableTensor>& ts) { std::erase_if(ts, [&](auto& t) { return t.name == n; }); };
  };
  // A missing scale, a scale of the wrong shape or dtype, a NaN code.
  EXPECT_CONTAINS(load_error(edited_copy(good, "fp8_noscale", erase("model.layers.1.mlp.up_proj.weight_scale_inv"))),
                  "missing tensor 'model.layers.1.mlp.up_proj.weight_scale_inv'");
  auto shape = edited_copy(good, "fp8_shape", [](std::vector<EditableTensor>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.mlp.down_proj.weight_scale_inv") t.shape = {2, 1};
  });
  EXPECT_CONTAINS(load_error(shape), "'model.layers.0.mlp.down_proj.weight_scale_inv' has shape [2, 1], expected [1, 2]");
  auto i32 = edited_copy(good, "fp8_i32", [](std::vector<EditableTensor>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.mlp.down_proj.weight_scale_inv") t.dtype = "I32";
  });
  EXPECT_CONTAINS(load_error(i32), "'model.layers.0.mlp.down_proj.weight_scale_inv' has dtype I32, expected F32, BF16 or F16");
  auto nan = edited_copy(good, "fp8_nan", [](std::vector<EditableTensor>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.2.self_attn.o_proj.weight") t.bytes[size_t(3 * 128 + 5)] = 0xFF;
  });
  EXPECT_CONTAINS(load_error(nan), "'model.layers.2.self_attn.o_proj.weight' holds the e4m3 NaN code 0xFF at [3, 5]");
  auto infs = edited_copy(good, "fp8_infscale", [](std::vector<EditableTensor>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.self_attn.k_proj.weight_scale_inv") {
        const float inf = INFINITY;
        std::memcpy(t.bytes.data(), &inf, 4);
      }
  });
  EXPECT_CONTAINS(load_error(infs), "'model.layers.0.self_attn.k_proj.weight_scale_inv' holds inf at [0, 0]");
  // Only one of a fused group in FP8.
  auto mixed = edited_copy(good, "fp8_mixed", [](std::vector<EditableTensor>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.self_attn.v_proj.weight") t.dtype = "BF16", t.bytes.resize(t.bytes.size() * 2);
  });
  EXPECT_CONTAINS(load_error(mixed), "'model.layers.0.self_attn.v_proj.weight' is BF16 but");
  // quantization_config: block size, fmt, activation scheme, per-tensor scales.
  struct Case {
    const char* name;
    std::function<void(nlohmann::json&)> edit;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"fp8_block64", [](auto& j) { j["quantization_config"]["weight_block_size"] = {64, 64}; },
       "quantization_config.weight_block_size is [64,64]; only [128, 128] is supported"},
      {"fp8_fmt", [](auto& j) { j["quantization_config"]["fmt"] = "e5m2"; },
       "quantization_config.fmt is \"e5m2\"; only \"e4m3\""},
      {"fp8_static", [](auto& j) { j["quantization_config"]["activation_scheme"] = "static"; },
       "activation_scheme is \"static\"; only \"dynamic\""},
      {"fp8_pertensor", [](auto& j) { j["quantization_config"].erase("weight_block_size"); },
       "no weight_block_size: per-tensor FP8 scales are not supported"},
      {"fp8_modules", [](auto& j) { j["quantization_config"]["modules_to_not_convert"] = {1}; },
       "modules_to_not_convert must hold strings"},
  };
  for (const Case& c : cases) {
    auto d = edited_copy(good, c.name, [](auto&) {});
    set_config(d, c.edit);
    EXPECT_CONTAINS(load_error(d), c.error) << c.name;
  }
  // modules_to_not_convert listing the head (as some repositories do) is accepted.
  auto d = edited_copy(good, "fp8_modules_ok", [](auto&) {});
  set_config(d, [](auto& j) { j["quantization_config"]["modules_to_not_convert"] = {"lm_head"}; });
  EXPECT_EQ(load_error(d), "");
}

}  // namespace
}  // namespace qwen3
