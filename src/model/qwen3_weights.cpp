#include "model/qwen3_weights.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/safetensors.h"
#include "parallel/shard_plan.h"

namespace qwen3 {
namespace {

// Linear::scale_rows for fused fp8 parts of `part_rows` rows, each on its own block grid: needed
// only when a part before the last does not end on a multiple of 128 rows.
void set_fp8_scale_rows(Linear& l, const std::vector<int64_t>& part_rows) {
  using kernels::kFp8Block;
  l.scale_rows.clear();
  bool aligned = true;
  for (size_t k = 0; k + 1 < part_rows.size(); ++k) aligned = aligned && part_rows[k] % kFp8Block == 0;
  if (aligned) return;
  int32_t base = 0;
  for (int64_t n : part_rows) {
    for (int64_t r = 0; r < n; ++r) l.scale_rows.push_back(base + int32_t(r / kFp8Block));
    base += int32_t((n + kFp8Block - 1) / kFp8Block);
  }
}

// Copies n elements of a float dtype and counts the NaN and Inf among them (all exponent bits
// set) in the same pass, so that the check costs no extra read of the weights: the loader copies
// every tensor anyway. Bit tests on integers, which the compiler vectorizes.
template <typename U, U kExponent>
size_t copy_count_nonfinite(uint8_t* dst, const uint8_t* src, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    U v;
    std::memcpy(&v, src + i * sizeof(U), sizeof(U));  // src is not aligned (safetensors offsets)
    std::memcpy(dst + i * sizeof(U), &v, sizeof(U));
    bad += (v & kExponent) == kExponent;
  }
  return bad;
}

size_t copy_count_nonfinite(uint8_t* dst, const uint8_t* src, size_t n, DType dt) {
  switch (dt) {
    case DType::F32: return copy_count_nonfinite<uint32_t, 0x7f800000u>(dst, src, n);
    case DType::BF16: return copy_count_nonfinite<uint16_t, 0x7f80>(dst, src, n);
    case DType::F16: return copy_count_nonfinite<uint16_t, 0x7c00>(dst, src, n);
  }
  return 0;
}

void warn_nonfinite(const TensorInfo& t, size_t bad) {
  if (bad) warn("{}: tensor '{}' holds {} NaN or Inf value(s); outputs computed from them will be NaN", t.file->string(), t.name, bad);
}

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

  bool has(const std::string& name) const { return ckpt_.find(name) != nullptr; }

  const TensorInfo& get(const Want& w) {
    const TensorInfo* t = &ckpt_.require(w.name);
    used_.insert(w.name);
    if (!t->dtype) {
      if (t->dtype_str.rfind("F8_", 0) == 0)
        fail("{}: tensor '{}' is {}: only the weights of linear layers may be FP8, and only F8_E4M3", t->file->string(),
             w.name, t->dtype_str);
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
    if (const TensorInfo* t0 = ckpt_.find(parts[0].name); t0 && (t0->dtype_str == "I8" || t0->dtype_str == "U8"))
      return quantized_linear(parts, t0->dtype_str == "I8" ? kernels::WFormat::Q8 : kernels::WFormat::Q4);
    for (const Want& p : parts)
      if (const TensorInfo* t = ckpt_.find(p.name); t && t->dtype_str == "F8_E4M3") return fp8_linear(parts);
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
      size_t bad = 0;
      for (int64_t r = 0; r < nr; ++r) {
        bad += copy_count_nonfinite(dst, t.data + (size_t((r0 + r) * full_cols + c0)) * es, size_t(nc), dt);
        dst += size_t(nc) * es;
      }
      warn_nonfinite(t, bad);
      t.release();
    }
    return l;
  }

  // A linear layer stored by `qwen3 quantize` (docs/quantization.md): `name` is int8 [out, kpad]
  // (q8) or packed uint8 [out, kpad / 2] (q4), `name_scale` f16 [out, kpad / 32], kpad = in rounded
  // up to 32. Rows are sliced as they are; columns only on 32-column block boundaries.
  Linear quantized_linear(const std::vector<Want>& parts, kernels::WFormat f) {
    using kernels::kQBlock;
    const char* want_dt = f == kernels::WFormat::Q8 ? "I8" : "U8";
    const int64_t block_bytes = f == kernels::WFormat::Q8 ? kQBlock : kQBlock / 2;
    Linear l;
    l.format = f;
    l.in = parts[0].split == Split::Cols ? parts[0].range.size : parts[0].shape[1];
    for (auto& p : parts) l.out += p.split == Split::Rows ? p.range.size : p.shape[0];
    const int64_t nb = (l.in + kQBlock - 1) / kQBlock;  // blocks per row on this rank
    l.weight = Buffer(size_t(l.out * nb * block_bytes));
    l.scales = Buffer(size_t(l.out * nb) * 2);
    uint8_t* dst = l.weight.as<uint8_t>();
    uint8_t* sdst = l.scales.as<uint8_t>();
    for (const Want& p : parts) {
      const TensorInfo& t = raw(p.name);
      const TensorInfo& s = raw(p.name + "_scale");
      if (c_.quantization == CheckpointQuant::None)
        fail("{}: tensor '{}' is {} but config.json has no quantization_config", t.file->string(), t.name, t.dtype_str);
      const int64_t full_nb = (p.shape[1] + kQBlock - 1) / kQBlock;
      check_shape(t, want_dt, {p.shape[0], full_nb * block_bytes});
      check_shape(s, "F16", {p.shape[0], full_nb});
      int64_t r0 = 0, nr = p.shape[0], b0 = 0, pnb = full_nb;
      if (p.split == Split::Rows) r0 = p.range.begin, nr = p.range.size;
      if (p.split == Split::Cols) {
        const int64_t end = p.range.begin + p.range.size;
        if (p.range.begin % kQBlock != 0 || (end % kQBlock != 0 && end != p.shape[1]))
          fail("{}: tensor '{}': this rank's columns [{}, {}) do not fall on {}-column quantization blocks; "
               "use fewer ranks or an unquantized checkpoint", t.file->string(), t.name, p.range.begin, end, kQBlock);
        b0 = p.range.begin / kQBlock, pnb = (p.range.size + kQBlock - 1) / kQBlock;
      }
      size_t bad = 0;  // in the scales (the int8 / int4 codes are always finite)
      for (int64_t r = 0; r < nr; ++r) {
        std::memcpy(dst, t.data + size_t(((r0 + r) * full_nb + b0) * block_bytes), size_t(pnb * block_bytes));
        bad += copy_count_nonfinite(sdst, s.data + size_t(((r0 + r) * full_nb + b0) * 2), size_t(pnb), DType::F16);
        dst += pnb * block_bytes;
        sdst += pnb * 2;
      }
      warn_nonfinite(s, bad);
      t.release();
      s.release();
    }
    return l;
  }

  // A linear layer of a Hugging Face FP8 checkpoint (docs/quantization.md): `name` is F8_E4M3
  // [out, in], `name_scale_inv` F32, BF16 or F16 [ceil(out / 128), ceil(in / 128)]. Fused parts
  // keep their own block grids (Linear::scale_rows). A tensor-parallel slice must start on a block
  // boundary and end on one or at the tensor's edge, so that it takes whole blocks.
  Linear fp8_linear(const std::vector<Want>& parts) {
    using kernels::kFp8Block;
    Linear l;
    l.format = kernels::WFormat::FP8;
    l.in = parts[0].split == Split::Cols ? parts[0].range.size : parts[0].shape[1];
    for (auto& p : parts) l.out += p.split == Split::Rows ? p.range.size : p.shape[0];
    const int64_t ncb = (l.in + kFp8Block - 1) / kFp8Block;  // column blocks on this rank
    int64_t grid_rows = 0;
    std::vector<int64_t> part_rows;
    for (auto& p : parts) {
      part_rows.push_back(p.split == Split::Rows ? p.range.size : p.shape[0]);
      grid_rows += (part_rows.back() + kFp8Block - 1) / kFp8Block;
    }
    l.weight = Buffer(size_t(l.out * l.in));
    l.scales = Buffer(size_t(grid_rows * ncb) * 4);
    uint8_t* dst = l.weight.as<uint8_t>();
    float* sdst = l.scales.as<float>();
    for (const Want& p : parts) {
      const TensorInfo& t = raw(p.name);
      if (t.dtype_str != "F8_E4M3")
        fail("{}: tensor '{}' is {} but '{}' is F8_E4M3; tensors fused together must share a dtype", t.file->string(),
             t.name, t.dtype_str, parts[0].name == p.name ? parts.back().name : parts[0].name);
      if (c_.quantization != CheckpointQuant::Fp8)
        fail("{}: tensor '{}' is F8_E4M3 but config.json has no quantization_config with quant_method \"fp8\"",
             t.file->string(), t.name);
      check_shape(t, "F8_E4M3", p.shape);
      const TensorInfo& s = raw(p.name + "_scale_inv");
      const int64_t full_rb = (p.shape[0] + kFp8Block - 1) / kFp8Block, full_cb = (p.shape[1] + kFp8Block - 1) / kFp8Block;
      if (!s.dtype) fail("{}: tensor '{}' has dtype {}, expected F32, BF16 or F16", s.file->string(), s.name, s.dtype_str);
      check_shape(s, s.dtype_str.c_str(), {full_rb, full_cb});
      int64_t r0 = 0, nr = p.shape[0], c0 = 0, nc = p.shape[1];
      if (p.split == Split::Rows) r0 = p.range.begin, nr = p.range.size;
      if (p.split == Split::Cols) c0 = p.range.begin, nc = p.range.size;
      const int64_t dim = p.split == Split::Rows ? 0 : 1, b = p.range.begin, e = p.range.begin + p.range.size;
      if (p.split != Split::Replicated && (b % kFp8Block != 0 || (e % kFp8Block != 0 && e != p.shape[size_t(dim)])))
        fail("{}: tensor '{}': this rank's {} [{}, {}) of {} do not fall on the {}-{} FP8 scale blocks; use fewer ranks",
             t.file->string(), t.name, dim == 0 ? "rows" : "columns", b, e, p.shape[size_t(dim)], kFp8Block,
             dim == 0 ? "row" : "column");
      for (int64_t r = 0; r < nr; ++r) {
        const uint8_t* src = t.data + size_t((r0 + r) * p.shape[1] + c0);
        for (int64_t i = 0; i < nc; ++i)
          if ((src[i] & 0x7f) == 0x7f)
            fail("{}: tensor '{}' holds the e4m3 NaN code 0x{:02X} at [{}, {}]", t.file->string(), t.name, src[i], r0 + r, c0 + i);
        std::memcpy(dst, src, size_t(nc));
        dst += nc;
      }
      // This rank's block rows and columns of the scales, as float32.
      const kernels::WeightView sv{kernels::format_of(*s.dtype), s.data, full_rb, full_cb};
      std::vector<float> srow(static_cast<size_t>(full_cb));
      for (int64_t rb = r0 / kFp8Block; rb < (r0 + nr + kFp8Block - 1) / kFp8Block; ++rb) {
        kernels::load_row(sv, rb, srow.data());
        for (int64_t cb = 0; cb < ncb; ++cb) {
          const float v = srow[size_t(c0 / kFp8Block + cb)];
          if (!std::isfinite(v))
            fail("{}: tensor '{}' holds {} at [{}, {}]; scales must be finite", s.file->string(), s.name, v, rb, c0 / kFp8Block + cb);
          *sdst++ = v;
        }
      }
      t.release();
      s.release();
    }
    set_fp8_scale_rows(l, part_rows);
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
    warn_nonfinite(t, size_t(std::count_if(full.begin(), full.end(), [](float x) { return !std::isfinite(x); })));
    std::copy(full.begin() + b, full.begin() + b + n, v.begin());
    return v;
  }

  // A tensor looked up without the float dtype check (quantized data and scales).
  const TensorInfo& raw(const std::string& name) {
    const TensorInfo& t = ckpt_.require(name);
    used_.insert(name);
    return t;
  }

  static void check_shape(const TensorInfo& t, const char* dtype, const std::vector<int64_t>& shape) {
    if (t.dtype_str != dtype) fail("{}: tensor '{}' has dtype {}, expected {}", t.file->string(), t.name, t.dtype_str, dtype);
    if (t.shape != shape) {
      TensorInfo expect;
      expect.shape = shape;
      fail("{}: tensor '{}' has shape {}, expected {}", t.file->string(), t.name, t.shape_str(), expect.shape_str());
    }
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
           ckpt_.tensors().at(extra[0])->file->string(), extra.size(), c_.num_hidden_layers, c_.attention_bias, c_.tie_word_embeddings, list);
    }
  }

 private:
  Checkpoint ckpt_;
  const Qwen3Config& c_;
  const ShardPlan& plan_;
  std::set<std::string> used_;
};

}  // namespace

void quantize_linear_fp8(Linear& l, const std::vector<int64_t>& part_rows) {
  using kernels::kFp8Block;
  if (l.format == kernels::WFormat::FP8 || kernels::is_quantized(l.format))
    fail("quantize_linear_fp8: the layer is already {}", kernels::format_name(l.format));
  const int64_t ncb = (l.in + kFp8Block - 1) / kFp8Block;
  int64_t grid_rows = 0, total = 0;
  for (int64_t n : part_rows) grid_rows += (n + kFp8Block - 1) / kFp8Block, total += n;
  if (total != l.out) fail("quantize_linear_fp8: parts of {} rows for a layer of {}", total, l.out);
  Buffer data(size_t(l.out * l.in));
  Buffer scales(size_t(grid_rows * ncb) * 4);
  // One block row (128 weight rows) at a time through float32.
  std::vector<float> rows(size_t(std::min(kFp8Block, l.out) * l.in));
  const kernels::WeightView src = l.view();
  int64_t row = 0, grid_row = 0;
  for (int64_t n : part_rows)
    for (int64_t r0 = 0; r0 < n; r0 += kFp8Block, ++grid_row) {
      const int64_t m = std::min(kFp8Block, n - r0);
      for (int64_t r = 0; r < m; ++r) kernels::load_row(src, row + r0 + r, &rows[size_t(r * l.in)]);
      kernels::quantize_fp8(rows.data(), m, l.in, data.as<uint8_t>() + (row + r0) * l.in,
                            scales.as<float>() + grid_row * ncb);
      if (r0 + kFp8Block >= n) row += n;
    }
  l.weight = std::move(data);
  l.scales = std::move(scales);
  l.format = kernels::WFormat::FP8;
  l.row_group = 0;  // written row-major (fp8 has no row groups)
  set_fp8_scale_rows(l, part_rows);
}

void quantize_linear(Linear& l, kernels::WFormat f) {
  if (f == kernels::WFormat::FP8) return quantize_linear_fp8(l, {l.out});
  if (!kernels::is_quantized(f)) fail("quantize_linear: {} is not a quantized format", kernels::format_name(f));
  if (kernels::is_quantized(l.format) || l.format == kernels::WFormat::FP8)
    fail("quantize_linear: the layer is already {}", kernels::format_name(l.format));
  Buffer data(kernels::weight_data_bytes(f, l.out, l.in));
  Buffer scales(kernels::weight_scale_count(f, l.out, l.in) * 2);
  // A few rows at a time through float32, so that the transient copy stays small.
  const int64_t chunk = 256, row_bytes = int64_t(kernels::weight_data_bytes(f, 1, l.in)),
                row_scales = int64_t(kernels::weight_scale_count(f, 1, l.in));
  std::vector<float> rows(size_t(std::min(chunk, l.out) * l.in));
  const kernels::WeightView src = l.view();
  for (int64_t r0 = 0; r0 < l.out; r0 += chunk) {
    const int64_t n = std::min(chunk, l.out - r0);
    for (int64_t r = 0; r < n; ++r) kernels::load_row(src, r0 + r, &rows[size_t(r * l.in)]);
    kernels::quantize_weights(f, rows.data(), n, l.in, data.as<uint8_t>() + r0 * row_bytes,
                              scales.as<uint16_t>() + r0 * row_scales);
  }
  l.weight = std::move(data);
  l.scales = std::move(scales);
  l.format = f;
  l.row_group = 0;  // written row-major, whatever the source layout
}

void set_row_groups(Linear& l, bool to_rows) {
  if (!kernels::has_row_groups(l.format, l.in) || (l.row_group != 0) == to_rows) return;
  const bool q = kernels::is_quantized(l.format);
  Buffer data(l.weight.size()), scales(l.scales.size());
  (to_rows ? kernels::to_row_groups : kernels::from_row_groups)(l.format, l.out, l.in, l.weight.data(),
                                                               q ? l.scales.as<uint16_t>() : nullptr, data.data(),
                                                               q ? scales.as<uint16_t>() : nullptr);
  l.weight = std::move(data);
  l.scales = std::move(scales);
  l.row_group = to_rows ? kernels::kRowGroup : 0;
}

size_t Qwen3Weights::bytes() const {
  size_t b = embed_tokens.weight.size() + (lm_head ? lm_head->weight.size() : 0);
  for (auto& l : layers)
    for (const Linear* m : {&l.qkv, &l.o_proj, &l.gate_up, &l.down}) b += m->weight.size() + m->scales.size();
  return b;
}

ShardRange vocab_rows(int64_t vocab_size, int rank, int world_size) {
  // In 128-row steps (the FP8 block height), so a table in any stored format splits.
  return ShardPlan(rank, world_size, {}).uneven_part(vocab_size, 128);
}

Qwen3Weights load_weights(const std::filesystem::path& dir, const Qwen3Config& c, const LoadOptions& opts) {
  // The shard plan, declared next to the weights: attention by heads, MLP by intermediate
  // columns, o_proj / down_proj by input columns (each followed by one all-reduce), the rest replicated.
  // With more ranks than KV heads, each KV head is replicated on world_size / num_key_value_heads
  // ranks (as vLLM does): a rank's query heads then all belong to the one KV head it holds.
  const ShardPlan plan(opts.rank, opts.world_size,
                       {{"num_attention_heads", c.num_attention_heads}, {"intermediate_size", c.intermediate_size}});
  const int64_t H = c.hidden_size, D = c.head_dim, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads,
                I = c.intermediate_size;
  const int64_t W = opts.world_size;
  if (Hkv % W != 0 && W % Hkv != 0)
    fail("tensor parallel world size {} neither divides nor is a multiple of num_key_value_heads = {}", W, Hkv);
  const ShardRange q_rows = plan.part(Hq, D), mlp = plan.part(I);
  const ShardRange kv_rows = Hkv % W == 0 ? plan.part(Hkv, D) : ShardRange{opts.rank / (W / Hkv) * D, D};
  auto rep = [](std::string n, std::vector<int64_t> s) { return Want{std::move(n), std::move(s), Split::Replicated, {}}; };
  auto rows = [](std::string n, std::vector<int64_t> s, ShardRange r) { return Want{std::move(n), std::move(s), Split::Rows, r}; };
  auto cols = [](std::string n, std::vector<int64_t> s, ShardRange r) { return Want{std::move(n), std::move(s), Split::Cols, r}; };

  if (opts.quant != Quant::None && c.quantization != CheckpointQuant::None)
    fail("{}: the checkpoint is already quantized ({}); load it without --quant", dir.string(),
         c.quantization == CheckpointQuant::Q8 ? "q8" : c.quantization == CheckpointQuant::Q4 ? "q4" : "fp8");
  // Layers take the requested format; the embedding table and the head take q8 (also for q4, as
  // llama.cpp keeps its output matrix at higher precision), or stay as stored with fp8 (as in
  // Qwen's FP8 checkpoints): see docs/quantization.md. Fused fp8 layers are quantized part by
  // part, each on its own 128 x 128 grid, as `qwen3 quantize` writes them unfused.
  const kernels::WFormat layer_fmt = opts.quant == Quant::Q4    ? kernels::WFormat::Q4
                                     : opts.quant == Quant::Fp8 ? kernels::WFormat::FP8
                                                                : kernels::WFormat::Q8;
  auto quant = [&](Linear l, kernels::WFormat f, const std::vector<int64_t>& parts = {}) {
    if (opts.quant == Quant::None || (opts.quant == Quant::Fp8 && f != kernels::WFormat::FP8)) return l;
    if (f == kernels::WFormat::FP8) quantize_linear_fp8(l, parts.empty() ? std::vector<int64_t>{l.out} : parts);
    else quantize_linear(l, f);
    return l;
  };
  // The embedding table / head (see HeadFormat); a table stored quantized stays as it is.
  const bool head_q8 = opts.head == HeadFormat::Q8 ||
                       (opts.head == HeadFormat::Auto && (opts.quant == Quant::Q8 || opts.quant == Quant::Q4));
  auto head = [&](Linear l) {
    if (head_q8 && !kernels::is_quantized(l.format) && l.format != kernels::WFormat::FP8) quantize_linear(l, kernels::WFormat::Q8);
    return l;
  };
  Progress progress(opts.quant == Quant::None ? std::string("loading weights")
                                              : fmt::format("loading weights, quantizing to {}", kernels::format_name(layer_fmt)),
                    c.num_hidden_layers + 1);

  Loader ld(dir, c, plan);
  Qwen3Weights w;
  w.vocab = opts.vocab_parallel ? vocab_rows(c.vocab_size, opts.rank, opts.world_size) : ShardRange{0, c.vocab_size};
  auto table = [&](std::string n) {
    return w.vocab.size == c.vocab_size ? rep(std::move(n), {c.vocab_size, H}) : rows(std::move(n), {c.vocab_size, H}, w.vocab);
  };
  if (w.vocab.size == 0)
    fail("tensor parallelism: rank {} of {} gets no rows of the {}-token vocabulary; use fewer ranks", opts.rank,
         opts.world_size, c.vocab_size);
  // Qwen3-Embedding checkpoints hold transformers' Qwen3Model (what AutoModel loads), saved without
  // the "model." prefix and without lm_head (Qwen3-Embedding-8B: untied, and still none).
  const bool flat = !ld.has("model.embed_tokens.weight") && ld.has("embed_tokens.weight");
  const std::string base = flat ? "" : "model.";
  w.embed_tokens = head(ld.linear({table(base + "embed_tokens.weight")}));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("{}layers.{}.", base, i);
    Qwen3Layer L;
    L.input_layernorm = ld.vec(rep(p + "input_layernorm.weight", {H}));
    L.qkv = quant(ld.linear({rows(p + "self_attn.q_proj.weight", {Hq * D, H}, q_rows),
                             rows(p + "self_attn.k_proj.weight", {Hkv * D, H}, kv_rows),
                             rows(p + "self_attn.v_proj.weight", {Hkv * D, H}, kv_rows)}),
                  layer_fmt, {q_rows.size, kv_rows.size, kv_rows.size});
    L.o_proj = quant(ld.linear({cols(p + "self_attn.o_proj.weight", {H, Hq * D}, q_rows)}), layer_fmt);
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
    L.gate_up = quant(ld.linear({rows(p + "mlp.gate_proj.weight", {I, H}, mlp), rows(p + "mlp.up_proj.weight", {I, H}, mlp)}),
                      layer_fmt, {mlp.size, mlp.size});
    L.down = quant(ld.linear({cols(p + "mlp.down_proj.weight", {H, I}, mlp)}), layer_fmt);
    w.layers.push_back(std::move(L));
    progress.set(i + 1);
  }
  w.norm = ld.vec(rep(base + "norm.weight", {H}));
  w.backbone_only = flat;
  w.headless = flat && !c.tie_word_embeddings && !ld.has("lm_head.weight");
  if (!c.tie_word_embeddings && !w.headless) w.lm_head = head(ld.linear({table("lm_head.weight")}));
  progress.set(c.num_hidden_layers + 1);
  ld.check_unexpected();
  if (opts.kernel_layout && kernels::prefers_row_groups()) {  // this rank's tensors, after slicing
    // Row groups for q8 / q4 / bf16 / f16 (decode reads 8 rows as one linear stream: bf16 decode
    // 1.3x on qwen3-0.6b, prefill unchanged); f32 stays row-major, where the grouped prefill tile
    // (3 tokens x 8 rows of float32 activations) measured 15-22 % slower in bench_kernels.
    auto group = [](Linear& l) {
      if (l.format != kernels::WFormat::F32) set_row_groups(l, true);
    };
    group(w.embed_tokens);
    if (w.lm_head) group(*w.lm_head);
    for (auto& L : w.layers)
      for (Linear* m : {&L.qkv, &L.o_proj, &L.gate_up, &L.down}) group(*m);
  }
  return w;
}

}  // namespace qwen3
