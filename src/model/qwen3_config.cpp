#include "model/qwen3_config.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json_file.h"
#include "io/json_brief.h"

namespace qwen3 {

using nlohmann::json;

namespace {

json read_json(const std::filesystem::path& p) { return read_json_file(p); }

int64_t get_int(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) fail("{}: missing required field \"{}\"", where, key);
  const json& v = j[key];
  if (!v.is_number_integer()) fail("{}: field \"{}\" must be an integer, got {}", where, key, json_brief(v));
  return v.get<int64_t>();
}

// Sizes beyond any real model (Qwen3-32B: hidden 5120, intermediate 25600, 64 layers and 64
// heads) are refused before anything multiplies them.
constexpr int64_t kMaxDim = int64_t(1) << 24;

int64_t get_positive_int(const json& j, const char* key, const std::string& where, int64_t max = kMaxDim) {
  int64_t v = get_int(j, key, where);
  if (v <= 0) fail("{}: field \"{}\" must be positive, got {}", where, key, v);
  if (v > max) fail("{}: field \"{}\" is {}, more than this engine accepts ({})", where, key, v, max);
  return v;
}

double get_number(const json& j, const char* key, const std::string& where, std::optional<double> dflt = {}) {
  if (!j.contains(key) || j[key].is_null()) {
    if (dflt) return *dflt;
    fail("{}: missing required field \"{}\"", where, key);
  }
  const json& v = j[key];
  if (!v.is_number()) fail("{}: field \"{}\" must be a number, got {}", where, key, json_brief(v));
  return v.get<double>();
}

bool get_bool(const json& j, const char* key, const std::string& where, bool dflt) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_boolean()) fail("{}: field \"{}\" must be true or false, got {}", where, key, json_brief(j[key]));
  return j[key].get<bool>();
}

std::optional<double> opt_number(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number()) fail("{}: rope_scaling field \"{}\" must be a number, got {}", where, key, json_brief(j[key]));
  return j[key].get<double>();
}

// The ids as written (unsigned values past int64 refused rather than wrapped); to_token_ids() then
// narrows them, after the callers' checks against the vocabulary, whose messages say more.
std::vector<int64_t> get_ids(const json& j, const char* key, const std::string& where) {
  std::vector<int64_t> ids;
  if (!j.contains(key) || j[key].is_null()) return ids;
  const json& v = j[key];
  auto push = [&](const json& e) {
    if (e.is_number_unsigned() && e.get<uint64_t>() > uint64_t(INT64_MAX))
      fail("{}: field \"{}\" holds {}, outside the range of a token id (32 bits)", where, key, e.dump());
    ids.push_back(e.get<int64_t>());
  };
  if (v.is_number_integer()) {
    push(v);
  } else if (v.is_array()) {
    for (auto& e : v) {
      if (!e.is_number_integer()) fail("{}: field \"{}\" must hold integers, got {}", where, key, json_brief(v));
      push(e);
    }
  } else {
    fail("{}: field \"{}\" must be an integer or a list of integers, got {}", where, key, json_brief(v));
  }
  return ids;
}

// Token ids (eos_token_id, bos_token_id, ...) must name a row of the embedding table.
// Token ids are int32_t everywhere (the engine, the tokenizer, the forward pass): narrowed here,
// once, with a check.
std::vector<int32_t> to_token_ids(const std::vector<int64_t>& ids, const char* key, const std::string& where) {
  std::vector<int32_t> out;
  for (int64_t id : ids) {
    if (id < INT32_MIN || id > INT32_MAX)
      fail("{}: field \"{}\" holds {}, outside the range of a token id (32 bits)", where, key, id);
    out.push_back(int32_t(id));
  }
  return out;
}

void check_ids(const std::vector<int64_t>& ids, const char* key, const std::string& where, int64_t vocab_size) {
  for (int64_t id : ids)
    if (id < 0 || id >= vocab_size)
      fail("{}: field \"{}\" holds {}, outside the vocabulary [0, {}) of config.json's vocab_size", where, key, id,
           vocab_size);
}

// A number that must lie in [lo, hi] (NaN never does); `what` says which bound is open, for the message.
double check_range(double v, double lo, double hi, const char* key, const std::string& where, bool lo_open = false) {
  if (!(lo_open ? v > lo : v >= lo) || !(v <= hi))
    fail("{}: field \"{}\" is {}, outside the sane range {}{}, {}]", where, key, v, lo_open ? "(" : "[", lo, hi);
  return v;
}

// Hugging Face's fine-grained FP8 (transformers FineGrainedFP8Config, vLLM Fp8Config with
// weight_block_size), as in the Qwen/Qwen3-*-FP8 repositories.
void parse_fp8_config(const json& q, const std::string& where, Qwen3Config& c) {
  const std::string w = where + ": quantization_config";
  c.quantization = CheckpointQuant::Fp8;
  if (q.contains("fmt") && !q["fmt"].is_null() && q["fmt"] != "e4m3")
    fail("{}.fmt is {}; only \"e4m3\" FP8 weights are supported", w, json_brief(q["fmt"]));
  if (q.contains("activation_scheme") && !q["activation_scheme"].is_null() && q["activation_scheme"] != "dynamic")
    fail("{}.activation_scheme is {}; only \"dynamic\" is supported (static activation scales are not)", w,
         json_brief(q["activation_scheme"]));
  if (!q.contains("weight_block_size") || q["weight_block_size"].is_null())
    fail("{} has no weight_block_size: per-tensor FP8 scales are not supported, only [128, 128] blocks", w);
  const json& b = q["weight_block_size"];
  if (!b.is_array() || b.size() != 2 || b[0] != 128 || b[1] != 128)
    fail("{}.weight_block_size is {}; only [128, 128] is supported", w,
         b.is_array() ? b.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 60) : json_brief(b));
  if (q.contains("modules_to_not_convert") && !q["modules_to_not_convert"].is_null()) {
    const json& m = q["modules_to_not_convert"];
    if (!m.is_array()) fail("{}.modules_to_not_convert must be a list of module names", w);
    for (const json& e : m) {
      if (!e.is_string()) fail("{}.modules_to_not_convert must hold strings, got {}", w, json_brief(e));
      c.modules_to_not_convert.push_back(e.get<std::string>());
    }
  }
}

}  // namespace

Qwen3Config Qwen3Config::from_json(const json& j, const std::string& where) {
  if (!j.is_object()) fail("{}: not a JSON object", where);
  Qwen3Config c;
  if (j.contains("model_type") && j["model_type"].is_string() && j["model_type"] != "qwen3")
    fail("{}: model_type is \"{}\", this engine runs \"qwen3\"", where, j["model_type"].get<std::string>());
  c.vocab_size = get_positive_int(j, "vocab_size", where);
  c.hidden_size = get_positive_int(j, "hidden_size", where);
  c.intermediate_size = get_positive_int(j, "intermediate_size", where);
  c.num_hidden_layers = get_positive_int(j, "num_hidden_layers", where, 4096);
  c.num_attention_heads = get_positive_int(j, "num_attention_heads", where, 4096);
  c.num_key_value_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                              ? get_positive_int(j, "num_key_value_heads", where)
                              : c.num_attention_heads;
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.head_dim = get_positive_int(j, "head_dim", where, 4096);
  } else {
    if (c.hidden_size % c.num_attention_heads)
      fail("{}: no head_dim, and hidden_size {} is not divisible by num_attention_heads {}", where, c.hidden_size,
           c.num_attention_heads);
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2) fail("{}: head_dim {} must be even for rotary embeddings", where, c.head_dim);
  if (c.num_attention_heads % c.num_key_value_heads)
    fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", where, c.num_attention_heads,
         c.num_key_value_heads);
  c.attention_bias = get_bool(j, "attention_bias", where, false);
  std::string act = "silu";
  if (j.contains("hidden_act") && !j["hidden_act"].is_null()) {
    if (!j["hidden_act"].is_string()) fail("{}: field \"hidden_act\" must be a string", where);
    act = j["hidden_act"].get<std::string>();
  }
  c.hidden_act_name = act;
  if (act == "silu" || act == "swish") c.hidden_act = Activation::SiLU;
  else if (act == "gelu") c.hidden_act = Activation::GeluErf;
  else if (act == "gelu_new" || act == "gelu_pytorch_tanh") c.hidden_act = Activation::GeluTanh;
  else if (act == "relu") c.hidden_act = Activation::ReLU;
  else fail("{}: unsupported hidden_act \"{}\" (supported: silu, swish, gelu, gelu_new, gelu_pytorch_tanh, relu)", where, act);
  // Real models: rms_norm_eps 1e-6 or 1e-5; rope_theta 1e4 to 1e7. The bounds only catch nonsense.
  c.rms_norm_eps = check_range(get_number(j, "rms_norm_eps", where, 1e-6), 0, 0.1, "rms_norm_eps", where, true);
  c.rope_theta = check_range(get_number(j, "rope_theta", where, 10000.0), 1, 1e12, "rope_theta", where, true);
  c.max_position_embeddings = get_positive_int(j, "max_position_embeddings", where, int64_t(1) << 30);
  // Qwen3's optional sliding-window attention (layers from max_window_layers on) is not
  // implemented: refuse rather than silently attend to everything.
  if (get_bool(j, "use_sliding_window", where, false))
    fail("{}: use_sliding_window is true; sliding-window attention is not supported", where);
  if (j.contains("layer_types") && j["layer_types"].is_array())
    for (auto& t : j["layer_types"])
      if (!t.is_string() || t != "full_attention")
        fail("{}: layer_types holds {}; only \"full_attention\" layers are supported", where, json_brief(t));
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", where, false);
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string())
    c.torch_dtype = parse_dtype_name(j["torch_dtype"].get<std::string>());
  if (j.contains("quantization_config") && !j["quantization_config"].is_null()) {
    const json& q = j["quantization_config"];
    if (!q.is_object() || !q.contains("quant_method") || !q["quant_method"].is_string())
      fail("{}: quantization_config must be an object with a string quant_method", where);
    const std::string method = q["quant_method"].get<std::string>();
    if (method == "fp8") {
      parse_fp8_config(q, where, c);
    } else if (method != "qwen3cpp") {
      fail("{}: quantization_config.quant_method \"{}\" is not supported (supported: fp8, and qwen3cpp written by "
           "qwen3 quantize)", where, method);
    } else {
      const std::string format = q.contains("format") && q["format"].is_string() ? q["format"].get<std::string>() : "";
      if (format == "q8") c.quantization = CheckpointQuant::Q8;
      else if (format == "q4") c.quantization = CheckpointQuant::Q4;
      else fail("{}: quantization_config.format must be \"q8\" or \"q4\", got {}", where, json_brief(q.value("format", json())));
      if (!q.contains("block_size") || q["block_size"] != 32)
        fail("{}: quantization_config.block_size must be 32", where);
    }
  }
  auto bos = get_ids(j, "bos_token_id", where);
  check_ids(bos, "bos_token_id", where, c.vocab_size);
  const auto eos = get_ids(j, "eos_token_id", where);
  check_ids(eos, "eos_token_id", where, c.vocab_size);
  if (!bos.empty()) c.bos_token_id = to_token_ids(bos, "bos_token_id", where)[0];
  c.eos_token_ids = to_token_ids(eos, "eos_token_id", where);

  // rope_scaling (transformers <= 4.x) or rope_parameters (5.x); "type" is the legacy key.
  const json* rs = nullptr;
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) rs = &j["rope_scaling"];
  else if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) rs = &j["rope_parameters"];
  if (rs) {
    const std::string w = where + ": rope_scaling";
    if (!rs->is_object()) fail("{} must be an object or null", w);
    std::string type;
    if (rs->contains("rope_type") && (*rs)["rope_type"].is_string()) type = (*rs)["rope_type"];
    else if (rs->contains("type") && (*rs)["type"].is_string()) type = (*rs)["type"];
    else fail("{}: missing \"rope_type\"", w);
    if (rs->contains("rope_theta") && (*rs)["rope_theta"].is_number())
      c.rope_theta = check_range((*rs)["rope_theta"].get<double>(), 1, 1e12, "rope_theta", w, true);
    RopeScaling& r = c.rope_scaling;
    if (type == "default") {
      r.type = RopeType::Default;
    } else if (type == "linear") {
      r.type = RopeType::Linear;
      r.factor = check_range(get_number(*rs, "factor", w), 1, 1024, "factor", w);
    } else if (type == "yarn") {
      r.type = RopeType::Yarn;
      // transformers 5.x: a top-level original_max_position_embeddings takes precedence over the
      // one inside rope_scaling; without either, max_position_embeddings is the pre-yarn length.
      if (j.contains("original_max_position_embeddings") && !j["original_max_position_embeddings"].is_null())
        r.original_max_position_embeddings = get_positive_int(j, "original_max_position_embeddings", where);
      else if (rs->contains("original_max_position_embeddings") && !(*rs)["original_max_position_embeddings"].is_null())
        r.original_max_position_embeddings = get_positive_int(*rs, "original_max_position_embeddings", w);
      else
        r.original_max_position_embeddings = c.max_position_embeddings;
      // A null or absent factor is the ratio of the post-yarn to the pre-yarn context length.
      r.factor = get_number(*rs, "factor", w,
                            double(c.max_position_embeddings) / double(r.original_max_position_embeddings));
      check_range(r.factor, 1, 1024, "factor", w);
      // 0 means "the default" for the betas and mscales (compute_rope); negative values are nonsense.
      auto opt = [&](const char* key, double lo, double hi, bool lo_open) {
        auto v = opt_number(*rs, key, w);
        if (v) check_range(*v, lo, hi, key, w, lo_open);
        return v;
      };
      r.attention_factor = opt("attention_factor", 0, 100, true);
      r.beta_fast = opt("beta_fast", 0, 1e6, false);
      r.beta_slow = opt("beta_slow", 0, 1e6, false);
      r.mscale = opt("mscale", 0, 1e3, false);
      r.mscale_all_dim = opt("mscale_all_dim", 0, 1e3, false);
      r.truncate = get_bool(*rs, "truncate", w, true);
    } else {
      fail("{}: unsupported rope_type \"{}\" (supported: default, linear, yarn)", w, type);
    }
  }
  return c;
}

Qwen3Config Qwen3Config::load(const std::filesystem::path& p) {
  if (!regular_file_exists(p)) fail("{}: missing (a model folder needs config.json)", p.string());
  Qwen3Config c = from_json(read_json(p), p.string());
  // generation_config.json beside it is checked here too (its token ids against vocab_size), so
  // that every command that loads a model refuses a bad one, not only those that generate.
  GenerationConfig::load(p.parent_path() / "generation_config.json", c.vocab_size);
  return c;
}

GenerationConfig GenerationConfig::load(const std::filesystem::path& p, std::optional<int64_t> vocab_size) {
  GenerationConfig g;
  if (!regular_file_exists(p)) return g;
  json j = read_json(p);
  const std::string w = p.string();
  if (!j.is_object()) fail("{}: not a JSON object", w);
  auto ids = [&](const char* key) {
    auto v = get_ids(j, key, w);
    for (int64_t id : v)
      if (id < 0) fail("{}: field \"{}\" holds {}, a negative token id", w, key, id);
    if (vocab_size) check_ids(v, key, w, *vocab_size);
    return to_token_ids(v, key, w);
  };
  auto bos = ids("bos_token_id");
  if (!bos.empty()) g.bos_token_id = bos[0];
  auto pad = ids("pad_token_id");
  if (!pad.empty()) g.pad_token_id = pad[0];
  g.eos_token_ids = ids("eos_token_id");
  g.do_sample = get_bool(j, "do_sample", w, false);
  // The ranges transformers' GenerationConfig.validate() accepts (temperature bounded for sanity).
  g.temperature = check_range(get_number(j, "temperature", w, 1.0), 0, 1e6, "temperature", w);
  if (j.contains("top_k") && !j["top_k"].is_null()) g.top_k = get_int(j, "top_k", w);
  if (g.top_k < 0) fail("{}: field \"top_k\" is {}, must be >= 0 (0: off)", w, g.top_k);
  g.top_p = check_range(get_number(j, "top_p", w, 1.0), 0, 1, "top_p", w);
  g.min_p = check_range(get_number(j, "min_p", w, 0.0), 0, 1, "min_p", w);
  g.repetition_penalty = check_range(get_number(j, "repetition_penalty", w, 1.0), 0, 1e6, "repetition_penalty", w, true);
  if (j.contains("max_new_tokens") && !j["max_new_tokens"].is_null()) {
    g.max_new_tokens = get_int(j, "max_new_tokens", w);
    if (*g.max_new_tokens < 0) fail("{}: field \"max_new_tokens\" is {}, must be >= 0", w, *g.max_new_tokens);
  }
  return g;
}

int64_t Qwen3Config::max_context() const {
  if (rope_scaling.type != RopeType::Yarn) return max_position_embeddings;
  // factor <= 1024 and original_max_position_embeddings <= 2^24 (checked when parsed): no overflow.
  const double yarn = double(rope_scaling.original_max_position_embeddings) * rope_scaling.factor;
  return std::max(max_position_embeddings, int64_t(yarn));
}

const char* Qwen3Config::max_context_source() const {
  return max_context() > max_position_embeddings ? "YaRN's original_max_position_embeddings x factor"
                                                 : "max_position_embeddings";
}

RopeParams compute_rope(const Qwen3Config& c) {
  const int64_t dim = c.head_dim;
  const double base = c.rope_theta;
  RopeParams p;
  p.inv_freq.resize(size_t(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) p.inv_freq[size_t(i)] = 1.0 / std::pow(base, double(2 * i) / double(dim));
  const RopeScaling& r = c.rope_scaling;
  if (r.type == RopeType::Linear) {
    for (double& f : p.inv_freq) f /= r.factor;
  } else if (r.type == RopeType::Yarn) {
    // transformers' _compute_yarn_parameters (5.x): the explicit factor is used; the correction range
    // is computed against original_max_position_embeddings.
    const double factor = r.factor;
    auto get_mscale = [](double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; };
    if (r.attention_factor) {
      p.attention_scaling = *r.attention_factor;
    } else if (r.mscale && r.mscale_all_dim && *r.mscale != 0 && *r.mscale_all_dim != 0) {
      p.attention_scaling = get_mscale(factor, *r.mscale) / get_mscale(factor, *r.mscale_all_dim);
    } else {
      p.attention_scaling = get_mscale(factor, 1.0);
    }
    const double beta_fast = r.beta_fast && *r.beta_fast != 0 ? *r.beta_fast : 32.0;
    const double beta_slow = r.beta_slow && *r.beta_slow != 0 ? *r.beta_slow : 1.0;
    const double omax = double(r.original_max_position_embeddings);
    auto correction_dim = [&](double rotations) {
      return (double(dim) * std::log(omax / (rotations * 2 * std::numbers::pi))) / (2 * std::log(base));
    };
    double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
    if (r.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < dim / 2; ++i) {
      double pos_freq = std::pow(base, double(2 * i) / double(dim));
      double extrapolation = 1.0 / pos_freq, interpolation = 1.0 / (factor * pos_freq);
      double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
      double extrapolation_factor = 1.0 - ramp;
      p.inv_freq[size_t(i)] = interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
    }
  }
  return p;
}

}  // namespace qwen3
