#include "model/qwen3_weights.h"

#include <cstring>
#include <set>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"
#include "parallel/shard_plan.h"

namespace qwen3 {
namespace {

// One tensor as the checkpoint must hold it, and the part of it this rank keeps.
struct Want {
  std::string name;
  std::vector<int64_t> shape;  // full (unsharded) shape
  Split split = Split::Replicated;
  ShardRange range{};          // along the split dimension
};

class Loader {
 public:
  Loader(const std::filesystem::path& dir, const Qwen3Config& c, const ShardPlan& plan)
      : ckpt_(Checkpoint::open(dir)), c_(c), plan_(plan) {}

  const TensorInfo& get(const Want& w) {
    const TensorInfo* t = ckpt_.find(w.name);
    if (!t) fail("{}: missing tensor '{}'", ckpt_.dir().string(), w.name);
    used_.insert(w.name);
    if (!t->dtype) {
      if (t->dtype_str.rfind("F8_", 0) == 0)
        fail("{}: tensor '{}' is {}: FP8 checkpoints are not supported yet", t->file->string(), w.name, t->dtype_str);
      fail("{}: tensor '{}' has dtype {}, expected F32, BF16 or F16", t->file->string(), w.name, t->dtype_str);
    }
    if (t->shape != w.shape) {
      TensorInfo expect;
      expect.shape = w.shape;
      fail("{}: tensor '{}' has shape {}, expected {} from config.json", t->file->string(), w.name, t->shape_str(),
           expect.shape_str());
    }
    return *t;
  }

  // Copies this rank's slice of each tensor in `parts` (all 2-D, same dtype and columns after
  // slicing) into one fused [sum of rows, cols] matrix.
  Linear linear(const std::vector<Want>& parts) {
    std::vector<const TensorInfo*> ts;
    for (auto& p : parts) ts.push_back(&get(p));
    const DType dt = *ts[0]->dtype;
    for (auto* t : ts)
      if (*t->dtype != dt)
        fail("{}: tensor '{}' is {} but '{}' is {}; tensors fused together must share a dtype", t->file->string(),
             t->name, t->dtype_str, ts[0]->name, ts[0]->dtype_str);
    Linear l;
    l.format = kernels::format_of(dt);
    l.in = parts[0].split == Split::Cols ? parts[0].range.size : parts[0].shape[1];
    for (auto& p : parts) l.out += p.split == Split::Rows ? p.range.size : p.shape[0];
    const size_t es = dtype_size(dt);
    l.weight = Buffer(size_t(l.out * l.in) * es);
    uint8_t* dst = l.weight.as<uint8_t>();
    for (size_t k = 0; k < parts.size(); ++k) {
      const Want& p = parts[k];
      const TensorInfo& t = *ts[k];
      const int64_t full_cols = p.shape[1];
      int64_t r0 = 0, nr = p.shape[0], c0 = 0, nc = full_cols;
      if (p.split == Split::Rows) r0 = p.range.begin, nr = p.range.size;
      if (p.split == Split::Cols) c0 = p.range.begin, nc = p.range.size;
      for (int64_t r = 0; r < nr; ++r) {
        std::memcpy(dst, t.data + (size_t((r0 + r) * full_cols + c0)) * es, size_t(nc) * es);
        dst += size_t(nc) * es;
      }
      t.release();
    }
    return l;
  }

  // 1-D tensor (norm weight or bias) as float32, optionally sliced.
  std::vector<float> vec(const Want& w) {
    const TensorInfo& t = get(w);
    int64_t b = 0, n = w.shape[0];
    if (w.split == Split::Rows) b = w.range.begin, n = w.range.size;
    std::vector<float> v(static_cast<size_t>(n));
    kernels::WeightView view{kernels::format_of(*t.dtype), t.data, 1, w.shape[0]};
    std::vector<float> full(static_cast<size_t>(w.shape[0]));
    kernels::load_row(view, 0, full.data());
    std::copy(full.begin() + b, full.begin() + b + n, v.begin());
    return v;
  }

  void check_unexpected() {
    std::vector<std::string> extra;
    for (auto& [name, t] : ckpt_.tensors()) {
      if (used_.count(name)) continue;
      if (name == "lm_head.weight" && c_.tie_word_embeddings) continue;  // tied: transformers ignores it too
      extra.push_back(name);
    }
    if (!extra.empty()) {
      std::string list;
      for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", " : "") + ("'" + extra[i] + "'");
      if (extra.size() > 5) list += fmt::format(" and {} more", extra.size() - 5);
      fail("{}: {} unexpected tensor(s) for this config.json (num_hidden_layers {}, attention_bias {}, "
           "tie_word_embeddings {}): {}",
           ckpt_.dir().string(), extra.size(), c_.num_hidden_layers, c_.attention_bias, c_.tie_word_embeddings, list);
    }
  }

 private:
  Checkpoint ckpt_;
  const Qwen3Config& c_;
  const ShardPlan& plan_;
  std::set<std::string> used_;
};

}  // namespace

size_t Qwen3Weights::bytes() const {
  size_t b = embed_tokens.weight.size() + (lm_head ? lm_head->weight.size() : 0);
  for (auto& l : layers)
    for (const Linear* m : {&l.qkv, &l.o_proj, &l.gate_up, &l.down}) b += m->weight.size() + m->scales.size();
  return b;
}

Qwen3Weights load_weights(const std::filesystem::path& dir, const Qwen3Config& c, const LoadOptions& opts) {
  // The shard plan, declared next to the weights: attention by heads, MLP by intermediate
  // columns, o_proj / down_proj by input columns (each followed by one all-reduce), the rest replicated.
  const ShardPlan plan(opts.rank, opts.world_size,
                       {{"num_attention_heads", c.num_attention_heads},
                        {"num_key_value_heads", c.num_key_value_heads},
                        {"intermediate_size", c.intermediate_size}});
  const int64_t H = c.hidden_size, D = c.head_dim, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads,
                I = c.intermediate_size;
  const ShardRange q_rows = plan.part(Hq, D), kv_rows = plan.part(Hkv, D), mlp = plan.part(I);
  auto rep = [](std::string n, std::vector<int64_t> s) { return Want{std::move(n), std::move(s), Split::Replicated, {}}; };
  auto rows = [](std::string n, std::vector<int64_t> s, ShardRange r) { return Want{std::move(n), std::move(s), Split::Rows, r}; };
  auto cols = [](std::string n, std::vector<int64_t> s, ShardRange r) { return Want{std::move(n), std::move(s), Split::Cols, r}; };

  Loader ld(dir, c, plan);
  Qwen3Weights w;
  w.embed_tokens = ld.linear({rep("model.embed_tokens.weight", {c.vocab_size, H})});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    Qwen3Layer L;
    L.input_layernorm = ld.vec(rep(p + "input_layernorm.weight", {H}));
    L.qkv = ld.linear({rows(p + "self_attn.q_proj.weight", {Hq * D, H}, q_rows),
                       rows(p + "self_attn.k_proj.weight", {Hkv * D, H}, kv_rows),
                       rows(p + "self_attn.v_proj.weight", {Hkv * D, H}, kv_rows)});
    L.o_proj = ld.linear({cols(p + "self_attn.o_proj.weight", {H, Hq * D}, q_rows)});
    if (c.attention_bias) {
      for (const char* n : {"q_proj", "k_proj", "v_proj"}) {
        auto b = ld.vec(rows(p + "self_attn." + n + ".bias", {n[0] == 'q' ? Hq * D : Hkv * D}, n[0] == 'q' ? q_rows : kv_rows));
        L.qkv.bias.insert(L.qkv.bias.end(), b.begin(), b.end());
      }
      L.o_proj.bias = ld.vec(rep(p + "self_attn.o_proj.bias", {H}));
    }
    L.q_norm = ld.vec(rep(p + "self_attn.q_norm.weight", {D}));
    L.k_norm = ld.vec(rep(p + "self_attn.k_norm.weight", {D}));
    L.post_attention_layernorm = ld.vec(rep(p + "post_attention_layernorm.weight", {H}));
    L.gate_up = ld.linear({rows(p + "mlp.gate_proj.weight", {I, H}, mlp), rows(p + "mlp.up_proj.weight", {I, H}, mlp)});
    L.down = ld.linear({cols(p + "mlp.down_proj.weight", {H, I}, mlp)});
    w.layers.push_back(std::move(L));
  }
  w.norm = ld.vec(rep("model.norm.weight", {H}));
  if (!c.tie_word_embeddings) w.lm_head = ld.linear({rep("lm_head.weight", {c.vocab_size, H})});
  ld.check_unexpected();
  return w;
}

}  // namespace qwen3
