// Quantization on load and quantized checkpoints written by `qwen3 quantize`.
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
using testing::scratch_dir;
using testing::tiny_model;

void expect_same(const Linear& a, const Linear& b, const char* what) {
  ASSERT_EQ(a.format, b.format) << what;
  ASSERT_EQ(a.out, b.out) << what;
  ASSERT_EQ(a.in, b.in) << what;
  ASSERT_EQ(a.weight.size(), b.weight.size()) << what;
  EXPECT_EQ(std::memcmp(a.weight.data(), b.weight.data(), a.weight.size()), 0) << what;
  ASSERT_EQ(a.scales.size(), b.scales.size()) << what;
  EXPECT_EQ(std::memcmp(a.scales.data(), b.scales.data(), a.scales.size()), 0) << what;
  EXPECT_EQ(a.bias, b.bias) << what;
}

// Every quantized weight is within half a quantization step of the original, block by block.
void expect_close_to(const Linear& q, const Linear& f, const char* what) {
  ASSERT_TRUE(kernels::is_quantized(q.format));
  ASSERT_FALSE(kernels::is_quantized(f.format));
  std::vector<float> rq(size_t(q.in)), rf(size_t(f.in));
  const int64_t nb = (q.in + kernels::kQBlock - 1) / kernels::kQBlock;
  std::vector<uint16_t> scales(q.scales.size() / 2);  // row-major, whatever q's layout
  std::memcpy(scales.data(), q.scales.data(), q.scales.size());
  if (q.row_group) {
    std::vector<uint8_t> data(q.weight.size());
    kernels::from_row_groups(q.format, q.out, q.in, q.weight.data(), q.scales.as<uint16_t>(), data.data(), scales.data());
  }
  for (int64_t r = 0; r < q.out; r += 7) {
    kernels::load_row(q.view(), r, rq.data());
    kernels::load_row(f.view(), r, rf.data());
    for (int64_t i = 0; i < q.in; ++i) {
      const float step = f16_to_f32(scales[size_t(r * nb + i / kernels::kQBlock)]);
      // Half a step, plus the f16 rounding of the scale (2^-11 relative) at the block maximum.
      ASSERT_LE(std::fabs(rq[size_t(i)] - rf[size_t(i)]), 0.5f * step + std::fabs(rf[size_t(i)]) * 1e-3f + 1e-30f)
          << what << " row " << r << " col " << i;
    }
  }
}

TEST(Quantize, OnLoadQuantizesLayersAndKeepsNormsExact) {
  const auto dir = tiny_model("q_f32", DType::F32);
  auto ref = Qwen3Model::load(dir);
  for (Quant q : {Quant::Q8, Quant::Q4}) {
    LoadOptions o;
    o.quant = q;
    auto m = Qwen3Model::load(dir, o);
    const WFormat lf = q == Quant::Q8 ? WFormat::Q8 : WFormat::Q4;
    const auto& L = m->weights().layers.at(1);
    EXPECT_EQ(L.qkv.format, lf);
    EXPECT_EQ(L.o_proj.format, lf);
    EXPECT_EQ(L.gate_up.format, lf);
    EXPECT_EQ(L.down.format, lf);
    EXPECT_EQ(m->weights().embed_tokens.format, WFormat::Q8);  // embedding / tied head: q8 always
    EXPECT_EQ(L.q_norm, ref->weights().layers.at(1).q_norm);
    expect_close_to(L.qkv, ref->weights().layers.at(1).qkv, "qkv");
    expect_close_to(L.down, ref->weights().layers.at(1).down, "down");
    expect_close_to(m->weights().embed_tokens, ref->weights().embed_tokens, "embed");
    EXPECT_LT(m->weights().bytes(), ref->weights().bytes() / (q == Quant::Q8 ? 3 : 4));
  }
}

TEST(Quantize, WrittenCheckpointLoadsToTheSameBytes) {
  for (bool tied : {true, false})
    for (Quant q : {Quant::Q8, Quant::Q4}) {
      const std::string name = std::string("qsrc_") + (tied ? "tied" : "untied");
      const auto dir = tiny_model(name, DType::BF16,
                                  tied ? R"({"attention_bias": true})" : R"({"tie_word_embeddings": false})");
      LoadOptions o;
      o.quant = q;
      auto m = Qwen3Model::load(dir, o);
      const auto out = scratch_dir() / (name + (q == Quant::Q8 ? "_q8" : "_q4"));
      write_quantized_checkpoint(dir, m->config(), m->weights(), q, out);
      auto back = Qwen3Model::load(out);
      EXPECT_EQ(back->config().quantization, q == Quant::Q8 ? CheckpointQuant::Q8 : CheckpointQuant::Q4);
      const Qwen3Weights &a = m->weights(), &b = back->weights();
      expect_same(a.embed_tokens, b.embed_tokens, "embed");
      ASSERT_EQ(a.lm_head.has_value(), b.lm_head.has_value());
      if (a.lm_head) expect_same(*a.lm_head, *b.lm_head, "lm_head");
      EXPECT_EQ(a.norm, b.norm);
      for (size_t l = 0; l < a.layers.size(); ++l) {
        expect_same(a.layers[l].qkv, b.layers[l].qkv, "qkv");
        expect_same(a.layers[l].o_proj, b.layers[l].o_proj, "o_proj");
        expect_same(a.layers[l].gate_up, b.layers[l].gate_up, "gate_up");
        expect_same(a.layers[l].down, b.layers[l].down, "down");
        EXPECT_EQ(a.layers[l].input_layernorm, b.layers[l].input_layernorm);
        EXPECT_EQ(a.layers[l].k_norm, b.layers[l].k_norm);
      }
      // Loading it again with --quant is refused; so is a second rank whose columns split a block.
      EXPECT_THROW(Qwen3Model::load(out, o), Error);
    }
}

TEST(Quantize, ShardsOfAQuantizedCheckpointMatchTheWhole) {
  // tiny: o_proj has 4 heads x 32 = 128 input columns: 2 ranks split at 64, a block boundary.
  // down has 160 input columns: 2 ranks split at 80, inside a block: refused with the numbers.
  const auto dir = tiny_model("qshard", DType::F32);
  LoadOptions o;
  o.quant = Quant::Q8;
  auto m = Qwen3Model::load(dir, o);
  const auto out = scratch_dir() / "qshard_q8";
  write_quantized_checkpoint(dir, m->config(), m->weights(), Quant::Q8, out);
  LoadOptions r1;
  r1.rank = 1, r1.world_size = 2;
  try {
    Qwen3Model::load(out, r1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("down_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[80, 160)"), std::string::npos) << e.what();
  }
  // With intermediate_size 128 the split falls on a block: rank 1's o_proj columns are the whole's.
  const auto dir2 = tiny_model("qshard2", DType::F32, R"({"intermediate_size": 128})");
  auto m2 = Qwen3Model::load(dir2, o);
  const auto out2 = scratch_dir() / "qshard2_q8";
  write_quantized_checkpoint(dir2, m2->config(), m2->weights(), Quant::Q8, out2);
  auto part = Qwen3Model::load(out2, r1);
  const Linear &whole = m2->weights().layers[0].o_proj, &half = part->weights().layers[0].o_proj;
  ASSERT_EQ(half.in, whole.in / 2);
  std::vector<float> rw(size_t(whole.in)), rh(size_t(half.in));
  for (int64_t r = 0; r < whole.out; ++r) {
    kernels::load_row(whole.view(), r, rw.data());
    kernels::load_row(half.view(), r, rh.data());
    for (int64_t i = 0; i < half.in; ++i) ASSERT_EQ(rh[size_t(i)], rw[size_t(half.in + i)]);
  }
}

// Under AVX-512 a q8 / q4 model is kept in row groups (kernels.h, WeightView::row_group): the same
// bytes as LoadOptions::kernel_layout = false gives, rearranged, and the same rows.
TEST(Quantize, RowGroupsAreTheRowMajorBytesRearranged) {
  const auto dir = tiny_model("q_rows8", DType::F32);
  for (Quant q : {Quant::Q8, Quant::Q4}) {
    LoadOptions o;
    o.quant = q;
    auto grouped = Qwen3Model::load(dir, o);
    o.kernel_layout = false;
    auto plain = Qwen3Model::load(dir, o);
    for (const auto& [g, p] : {std::pair{&grouped->weights().layers[0].gate_up, &plain->weights().layers[0].gate_up},
                               {&grouped->weights().embed_tokens, &plain->weights().embed_tokens}}) {
      EXPECT_EQ(p->row_group, 0);
      EXPECT_EQ(g->row_group, kernels::prefers_row_groups() ? kernels::kRowGroup : 0);
      std::vector<uint8_t> data(g->weight.size());
      std::vector<uint16_t> scales(g->scales.size() / 2);
      if (g->row_group)
        kernels::from_row_groups(g->format, g->out, g->in, g->weight.data(), g->scales.as<uint16_t>(), data.data(), scales.data());
      else
        std::memcpy(data.data(), g->weight.data(), data.size()), std::memcpy(scales.data(), g->scales.data(), g->scales.size());
      EXPECT_EQ(std::memcmp(data.data(), p->weight.data(), data.size()), 0);
      EXPECT_EQ(std::memcmp(scales.data(), p->scales.data(), p->scales.size()), 0);
      std::vector<float> a(size_t(g->in)), b(size_t(g->in));
      for (int64_t r = 0; r < g->out; r += 5) {
        kernels::load_row(g->view(), r, a.data());
        kernels::load_row(p->view(), r, b.data());
        ASSERT_EQ(a, b) << "row " << r;
      }
    }
  }
}

TEST(Quantize, BadQuantizedCheckpointsAreRefused) {
  const auto dir = tiny_model("qbad", DType::F32);
  LoadOptions o;
  o.quant = Quant::Q4;
  auto m = Qwen3Model::load(dir, o);
  const auto out = scratch_dir() / "qbad_q4";
  write_quantized_checkpoint(dir, m->config(), m->weights(), Quant::Q4, out);
  auto expect_error = [](const std::filesystem::path& d, const std::string& needle) {
    try {
      Qwen3Model::load(d);
      FAIL() << "expected an error containing " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // A scale tensor of the wrong shape, a missing scale, an I8 tensor without quantization_config.
  auto bad_scale = testing::edited_copy(out, "qbad_scale", [](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.mlp.up_proj.weight_scale") t.shape[1] -= 1, t.bytes.resize(t.bytes.size() - size_t(t.shape[0]) * 2);
  });
  expect_error(bad_scale, "up_proj.weight_scale");
  auto no_scale = testing::edited_copy(out, "qbad_noscale", [](auto& ts) {
    std::erase_if(ts, [](auto& t) { return t.name == "model.layers.1.self_attn.k_proj.weight_scale"; });
  });
  expect_error(no_scale, "missing tensor 'model.layers.1.self_attn.k_proj.weight_scale'");
  auto no_config = testing::edited_copy(out, "qbad_noconfig", [](auto&) {});
  {
    std::ifstream in(dir / "config.json");
    std::ofstream o2(no_config / "config.json");
    o2 << in.rdbuf();
  }
  expect_error(no_config, "has no quantization_config");
}

}  // namespace
}  // namespace qwen3
