#include "model/quantized_checkpoint.h"

#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "io/safetensors.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;
using kernels::WFormat;

// The tensors of one checkpoint, pointing into the weights (which outlive the write).
class TensorList {
 public:
  explicit TensorList(Quant quant) : quant_(quant) {}

  // Rows [r0, r0 + n) of a fused layer, under the Hugging Face name of that part.
  void linear(const std::string& name, const Linear& layer, int64_t r0, int64_t n) {
    const Linear& l = row_major(layer);
    if (l.format == WFormat::FP8) return fp8(name, l, r0, n);
    if (quant_ == Quant::Fp8 && !kernels::is_quantized(l.format)) return plain(name, l);
    if (!kernels::is_quantized(l.format)) fail("write_quantized_checkpoint: '{}' is not quantized", name);
    const int64_t nb = (l.in + kernels::kQBlock - 1) / kernels::kQBlock;
    const int64_t row_bytes = int64_t(kernels::weight_data_bytes(l.format, 1, l.in));
    const bool q8 = l.format == WFormat::Q8;
    out_.push_back({name, q8 ? "I8" : "U8", {n, row_bytes}, l.weight.as<uint8_t>() + r0 * row_bytes, size_t(n * row_bytes)});
    out_.push_back({name + "_scale", "F16", {n, nb}, l.scales.as<uint16_t>() + r0 * nb, size_t(n * nb) * 2});
  }
  void vec(const std::string& name, const std::vector<float>& v, size_t begin, size_t n) {
    out_.push_back({name, "F32", {int64_t(n)}, v.data() + begin, n * 4});
  }
  const std::vector<TensorToWrite>& tensors() const { return out_; }

 private:
  // Hugging Face's FP8 layout: `name` F8_E4M3 [n, in], `name_scale_inv` F32 [ceil(n / 128),
  // ceil(in / 128)]: the part's own block grid, which starts at its first row's scale row.
  void fp8(const std::string& name, const Linear& l, int64_t r0, int64_t n) {
    const int64_t ncb = (l.in + kernels::kFp8Block - 1) / kernels::kFp8Block,
                  nrb = (n + kernels::kFp8Block - 1) / kernels::kFp8Block;
    const int64_t s0 = l.scale_rows.empty() ? r0 / kernels::kFp8Block : l.scale_rows[size_t(r0)];
    if (l.scale_rows.empty() && r0 % kernels::kFp8Block != 0)
      fail("write_quantized_checkpoint: '{}' starts at row {}, inside a 128-row block", name, r0);
    out_.push_back({name, "F8_E4M3", {n, l.in}, l.weight.as<uint8_t>() + r0 * l.in, size_t(n * l.in)});
    out_.push_back({name + "_scale_inv", "F32", {nrb, ncb}, l.scales.as<float>() + s0 * ncb, size_t(nrb * ncb) * 4});
  }
  // The layer itself, or a row-major copy of one in the row-grouped layout (checkpoints are
  // written row-major, docs/quantization.md), made once and kept until the write is done.
  const Linear& row_major(const Linear& l) {
    if (!l.row_group) return l;
    auto it = plain_.find(&l);
    if (it != plain_.end()) return it->second;
    Linear& c = plain_[&l];
    c.format = l.format, c.out = l.out, c.in = l.in;
    c.weight = Buffer(l.weight.size());
    c.scales = Buffer(l.scales.size());
    const bool q = kernels::is_quantized(l.format);
    kernels::from_row_groups(l.format, l.out, l.in, l.weight.data(), q ? l.scales.as<uint16_t>() : nullptr,
                             c.weight.data(), q ? c.scales.as<uint16_t>() : nullptr);
    return c;
  }
  // A layer left as stored (the embedding table and lm_head of an fp8 checkpoint).
  void plain(const std::string& name, const Linear& l) {
    const char* dt = l.format == WFormat::F32 ? "F32" : l.format == WFormat::BF16 ? "BF16" : "F16";
    out_.push_back({name, dt, {l.out, l.in}, l.weight.data(), l.weight.size()});
  }

  Quant quant_;
  std::vector<TensorToWrite> out_;
  std::map<const Linear*, Linear> plain_;
};

}  // namespace

void write_quantized_checkpoint(const fs::path& src_dir, const Qwen3Config& c, const Qwen3Weights& w, Quant quant,
                                const fs::path& out_dir) {
  if (quant == Quant::None) fail("write_quantized_checkpoint: no quantization given");
  if (fs::exists(out_dir) && fs::equivalent(src_dir, out_dir))
    fail("{}: the output folder must differ from the model folder", out_dir.string());
  const int64_t D = c.head_dim, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads, I = c.intermediate_size;
  if (w.layers.size() != size_t(c.num_hidden_layers) || w.layers.empty() || w.layers[0].qkv.out != (Hq + 2 * Hkv) * D ||
      w.layers[0].gate_up.out != 2 * I)
    fail("write_quantized_checkpoint: the weights are not a whole (unsharded) model");

  TensorList t(quant);
  t.linear("model.embed_tokens.weight", w.embed_tokens, 0, w.embed_tokens.out);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const Qwen3Layer& L = w.layers[size_t(i)];
    const std::string p = fmt::format("model.layers.{}.", i);
    t.vec(p + "input_layernorm.weight", L.input_layernorm, 0, L.input_layernorm.size());
    t.linear(p + "self_attn.q_proj.weight", L.qkv, 0, Hq * D);
    t.linear(p + "self_attn.k_proj.weight", L.qkv, Hq * D, Hkv * D);
    t.linear(p + "self_attn.v_proj.weight", L.qkv, (Hq + Hkv) * D, Hkv * D);
    if (c.attention_bias) {
      t.vec(p + "self_attn.q_proj.bias", L.qkv.bias, 0, size_t(Hq * D));
      t.vec(p + "self_attn.k_proj.bias", L.qkv.bias, size_t(Hq * D), size_t(Hkv * D));
      t.vec(p + "self_attn.v_proj.bias", L.qkv.bias, size_t((Hq + Hkv) * D), size_t(Hkv * D));
      t.vec(p + "self_attn.o_proj.bias", L.o_proj.bias, 0, L.o_proj.bias.size());
    }
    t.linear(p + "self_attn.o_proj.weight", L.o_proj, 0, L.o_proj.out);
    t.vec(p + "self_attn.q_norm.weight", L.q_norm, 0, L.q_norm.size());
    t.vec(p + "self_attn.k_norm.weight", L.k_norm, 0, L.k_norm.size());
    t.vec(p + "post_attention_layernorm.weight", L.post_attention_layernorm, 0, L.post_attention_layernorm.size());
    t.linear(p + "mlp.gate_proj.weight", L.gate_up, 0, I);
    t.linear(p + "mlp.up_proj.weight", L.gate_up, I, I);
    t.linear(p + "mlp.down_proj.weight", L.down, 0, L.down.out);
  }
  t.vec("model.norm.weight", w.norm, 0, w.norm.size());
  if (w.lm_head) t.linear("lm_head.weight", *w.lm_head, 0, w.lm_head->out);

  fs::create_directories(out_dir);
  int64_t bytes = 0;
  for (const TensorToWrite& x : t.tensors()) bytes += int64_t(x.nbytes);
  Progress progress("writing " + (out_dir / "model.safetensors").string(), bytes);
  write_safetensors(out_dir / "model.safetensors", t.tensors(),
                    {{"format", "pt"}, {"quantized_by", "qwen3.cpp"}}, &progress);

  // config.json: the original, with quantization_config added.
  nlohmann::ordered_json cj = read_json_file<nlohmann::ordered_json>(src_dir / "config.json");
  if (quant == Quant::Fp8)  // as in Qwen's Qwen3-*-FP8 config.json files
    cj["quantization_config"] = {{"activation_scheme", "dynamic"},
                                 {"fmt", "e4m3"},
                                 {"quant_method", "fp8"},
                                 {"weight_block_size", {kernels::kFp8Block, kernels::kFp8Block}}};
  else
    cj["quantization_config"] = {{"quant_method", "qwen3cpp"},
                                 {"format", quant == Quant::Q8 ? "q8" : "q4"},
                                 {"block_size", kernels::kQBlock},
                                 {"scale_dtype", "float16"},
                                 {"embedding_and_head_format", "q8"}};
  write_file(out_dir / "config.json", cj.dump(2) + "\n");
  // Everything else but the weights (tokenizer, generation config, chat template, ...).
  for (const auto& e : fs::directory_iterator(src_dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name == "config.json" || name == "model.safetensors.index.json" ||
        e.path().extension() == ".safetensors")
      continue;
    fs::copy_file(e.path(), out_dir / name, fs::copy_options::overwrite_existing);
  }
}

}  // namespace qwen3
