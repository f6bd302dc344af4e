// qwen3 export-gguf: writes a Hugging Face Qwen3 checkpoint as a GGUF file that llama.cpp loads
// (arch "qwen3"), so that llama.cpp and qwen3 can be benchmarked on the same weights. Tensors are
// copied as stored (F32 / BF16 / F16; 1-D norms as F32), read straight from the safetensors, with
// llama.cpp's tensor names; the tokenizer goes in as GPT-2-style BPE metadata ("gpt2", pre "qwen2").
// Quantized formats are made from this file by llama.cpp's own llama-quantize.
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/json_file.h"
#include "io/gguf_writer.h"
#include "io/safetensors.h"
#include "model/qwen3_config.h"
#include "tools/command.h"
#include "tools/model_flags.h"

namespace qwen3::tools {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Opts {
  std::string model, out;
};

json read_json(const fs::path& p) { return read_json_file(p); }

// 1-D tensor (a norm) as float32 bytes.
std::vector<uint8_t> to_f32_bytes(const TensorInfo& t) {
  if (!t.dtype) fail("tensor '{}': dtype {} is not F32, BF16 or F16", t.name, t.dtype_str);
  const int64_t n = t.numel();
  std::vector<uint8_t> out(size_t(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    float v;
    if (*t.dtype == DType::F32) {
      std::memcpy(&v, t.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      v = *t.dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
    std::memcpy(out.data() + 4 * i, &v, 4);
  }
  return out;
}

void add_tokenizer(gguf::Writer& w, const fs::path& dir, const Qwen3Config& c) {
  const json tj = read_json(dir / "tokenizer.json");
  const json& model = tj.at("model");
  if (model.value("type", "") != "BPE") fail("tokenizer.json: model type '{}' is not BPE", model.value("type", ""));
  // Token strings by id; ids the tokenizer does not define (the config's vocab_size is padded)
  // become "[PAD<id>]" of type UNUSED, as llama.cpp's converter writes them.
  enum : int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };
  std::vector<std::string> tokens(size_t(c.vocab_size));
  std::vector<int32_t> types(size_t(c.vocab_size), kUnused);
  auto put = [&](int64_t id, const std::string& s, int32_t type) {
    if (id < 0 || id >= c.vocab_size) fail("tokenizer.json: token id {} outside vocab_size {}", id, c.vocab_size);
    tokens[size_t(id)] = s;
    types[size_t(id)] = type;
  };
  for (auto& [s, id] : model.at("vocab").items()) put(id.get<int64_t>(), s, kNormal);
  std::map<std::string, int64_t> added;
  for (const json& a : tj.value("added_tokens", json::array())) {
    const std::string s = a.at("content");
    // Added tokens spelled <|...|> are control tokens to llama.cpp even when the tokenizer does not
    // mark them special (Qwen3's <|fim_pad|>, <|repo_name|>, ...); it warns and overrides otherwise.
    const bool looks_special = s.size() >= 4 && s.starts_with("<|") && s.ends_with("|>");
    put(a.at("id").get<int64_t>(), s, a.value("special", false) || looks_special ? kControl : kUserDefined);
    added[s] = a.at("id");
  }
  for (int64_t i = 0; i < c.vocab_size; ++i)
    if (types[size_t(i)] == kUnused) tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";
  std::vector<std::string> merges;
  for (const json& m : model.at("merges"))
    merges.push_back(m.is_string() ? m.get<std::string>() : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());

  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "qwen2");
  w.add_strings("tokenizer.ggml.tokens", std::move(tokens));
  w.add_i32s("tokenizer.ggml.token_type", std::move(types));
  w.add_strings("tokenizer.ggml.merges", std::move(merges));

  json tc = regular_file_exists(dir / "tokenizer_config.json") ? read_json(dir / "tokenizer_config.json") : json::object();
  auto special_id = [&](const char* field) -> std::optional<int64_t> {
    const json& v = tc.contains(field) ? tc[field] : json();
    std::string s = v.is_string() ? v.get<std::string>() : v.is_object() ? v.value("content", "") : "";
    if (s.empty()) return std::nullopt;
    auto it = added.find(s);
    if (it != added.end()) return it->second;
    auto vit = model.at("vocab").find(s);
    if (vit != model.at("vocab").end()) return vit->get<int64_t>();
    return std::nullopt;
  };
  std::optional<int64_t> eos = special_id("eos_token");
  if (!eos && !c.eos_token_ids.empty()) eos = c.eos_token_ids.front();
  if (eos) w.add_u32("tokenizer.ggml.eos_token_id", uint32_t(*eos));
  if (auto pad = special_id("pad_token")) w.add_u32("tokenizer.ggml.padding_token_id", uint32_t(*pad));
  if (c.bos_token_id) w.add_u32("tokenizer.ggml.bos_token_id", uint32_t(*c.bos_token_id));
  w.add_bool("tokenizer.ggml.add_bos_token", tc.value("add_bos_token", false));
  std::string tmpl;
  if (tc.contains("chat_template") && tc["chat_template"].is_string()) tmpl = tc["chat_template"];
  else if (regular_file_exists(dir / "chat_template.jinja")) tmpl = read_file(dir / "chat_template.jinja");
  if (!tmpl.empty()) w.add_string("tokenizer.chat_template", tmpl);
}

int run(const Opts& o) {
  const fs::path dir = o.model;
  const Qwen3Config c = Qwen3Config::load(dir / "config.json");
  if (c.quantization != CheckpointQuant::None)
    fail("export-gguf: '{}' holds quantized weights; export the unquantized checkpoint and make Q8_0 / Q4_0 with "
         "llama-quantize", dir.string());
  if (c.attention_bias) fail("export-gguf: attention_bias is not supported by llama.cpp's qwen3 architecture");
  if (c.hidden_act != Activation::SiLU) fail("export-gguf: hidden_act '{}' is not silu", c.hidden_act_name);
  if (c.rope_scaling.type != RopeType::Default) fail("export-gguf: rope_scaling is not supported by this exporter");
  const Checkpoint ck = Checkpoint::open(dir);

  gguf::Writer w;
  w.add_string("general.architecture", "qwen3");
  w.add_string("general.name", dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string());
  w.add_u32("general.alignment", uint32_t(gguf::kAlignment));
  w.add_u32("qwen3.context_length", uint32_t(c.max_position_embeddings));
  w.add_u32("qwen3.embedding_length", uint32_t(c.hidden_size));
  w.add_u32("qwen3.block_count", uint32_t(c.num_hidden_layers));
  w.add_u32("qwen3.feed_forward_length", uint32_t(c.intermediate_size));
  w.add_u32("qwen3.attention.head_count", uint32_t(c.num_attention_heads));
  w.add_u32("qwen3.attention.head_count_kv", uint32_t(c.num_key_value_heads));
  w.add_u32("qwen3.attention.key_length", uint32_t(c.head_dim));
  w.add_u32("qwen3.attention.value_length", uint32_t(c.head_dim));
  w.add_f32("qwen3.attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  w.add_f32("qwen3.rope.freq_base", float(c.rope_theta));

  // HF name -> GGUF name; matrices keep their stored dtype, 1-D norms become F32.
  std::string matrix_dtype;
  auto tensor = [&](const std::string& hf, const std::string& name, bool norm) {
    const TensorInfo* t = &ck.require(hf);
    if (norm) {
      if (t->shape.size() != 1) fail("tensor '{}': shape {} is not 1-D", hf, t->shape_str());
      w.add_tensor(name, gguf::TensorType::F32, t->shape, to_f32_bytes(*t));
      return;
    }
    if (matrix_dtype.empty()) matrix_dtype = t->dtype_str;
    w.add_tensor(name, gguf::tensor_type_of(t->dtype_str, hf), t->shape, t->data, t->nbytes);
  };
  tensor("model.embed_tokens.weight", "token_embd.weight", false);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", b = "blk." + std::to_string(l) + ".";
    tensor(p + "input_layernorm.weight", b + "attn_norm.weight", true);
    tensor(p + "self_attn.q_proj.weight", b + "attn_q.weight", false);
    tensor(p + "self_attn.k_proj.weight", b + "attn_k.weight", false);
    tensor(p + "self_attn.v_proj.weight", b + "attn_v.weight", false);
    tensor(p + "self_attn.q_norm.weight", b + "attn_q_norm.weight", true);
    tensor(p + "self_attn.k_norm.weight", b + "attn_k_norm.weight", true);
    tensor(p + "self_attn.o_proj.weight", b + "attn_output.weight", false);
    tensor(p + "post_attention_layernorm.weight", b + "ffn_norm.weight", true);
    tensor(p + "mlp.gate_proj.weight", b + "ffn_gate.weight", false);
    tensor(p + "mlp.up_proj.weight", b + "ffn_up.weight", false);
    tensor(p + "mlp.down_proj.weight", b + "ffn_down.weight", false);
  }
  tensor("model.norm.weight", "output_norm.weight", true);
  if (!c.tie_word_embeddings) tensor("lm_head.weight", "output.weight", false);
  // general.file_type (llama_ftype): 0 all F32, 1 mostly F16, 32 mostly BF16.
  w.add_u32("general.file_type", matrix_dtype == "F32" ? 0 : matrix_dtype == "F16" ? 1 : 32);
  add_tokenizer(w, dir, c);
  w.write(o.out);
  std::fprintf(stderr, "wrote %s\n", o.out.c_str());
  return 0;
}

const bool registered = register_command(
    "export-gguf", "Write the checkpoint as a GGUF file for llama.cpp (same weights, for side-by-side benchmarks)",
    [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      add_model_path_option(app, "--model", o->model, "Hugging Face checkpoint", true)->required();
      app.add_option("--out", o->out, "GGUF file to write")->required();
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
