// Qwen3 weights on one tensor-parallel rank, typed and in their stored dtype (bf16 stays bf16).
// QKV and gate/up are fused on load. Shapes are this rank's: Hq = num_attention_heads / world_size,
// Hkv = num_key_value_heads / world_size, I = intermediate_size / world_size, D = head_dim.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "core/buffer.h"
#include "kernels/kernels.h"
#include "model/qwen3_config.h"
#include "parallel/shard_plan.h"

namespace qwen3 {

struct Linear {
  kernels::WFormat format = kernels::WFormat::F32;  // the stored dtype, or q8 / q4 / fp8 once quantized
  int64_t out = 0, in = 0;
  Buffer weight;             // [out, in] in `format` (kernels.h describes the quantized layouts)
  Buffer scales;             // f16 block scales of q8 / q4; float32 128 x 128 block scales of fp8
  // fp8 of fused parts (q | k | v, gate | up): each part keeps its own block grid, its scale rows
  // following the previous part's in `scales`. When a part other than the last has a row count
  // that is not a multiple of 128, the grids do not line up with o / 128 and this holds, for every
  // row, its row of `scales`; otherwise it is empty (kernels.h: WeightView::block_scale_rows).
  std::vector<int32_t> scale_rows;
  std::vector<float> bias;   // [out], empty when the layer has none
  int32_t row_group = 0;     // 0, or kernels::kRowGroup once in the row-grouped layout (kernels.h; not fp8)

  kernels::WeightView view() const {
    if (format != kernels::WFormat::FP8) {
      kernels::WeightView v{format, weight.data(), out, in, scales.as<uint16_t>()};
      v.row_group = row_group;
      return v;
    }
    kernels::WeightView v{format, weight.data(), out, in};
    v.block_scales = scales.as<float>();
    v.block_scale_rows = scale_rows.empty() ? nullptr : scale_rows.data();
    return v;
  }
};

struct Qwen3Layer {
  std::vector<float> input_layernorm;           // [hidden]
  Linear qkv;                                   // [(Hq + 2 Hkv) * D, hidden], rows q | k | v; bias when attention_bias
  std::vector<float> q_norm, k_norm;            // [D]
  Linear o_proj;                                // [hidden, Hq * D]; its bias (attention_bias) is added once, after the all-reduce
  std::vector<float> post_attention_layernorm;  // [hidden]
  Linear gate_up;                               // [2 I, hidden], rows gate | up
  Linear down;                                  // [hidden, I]
};

struct Qwen3Weights {
  // [vocab, hidden]; also the head when tied. Under tensor parallelism with a vocabulary-parallel
  // head, this rank's rows [vocab.begin, vocab.begin + vocab.size) of it (and of lm_head).
  Linear embed_tokens;
  ShardRange vocab;
  std::vector<Qwen3Layer> layers;   // [num_hidden_layers]
  std::vector<float> norm;          // [hidden]
  std::optional<Linear> lm_head;    // [vocab, hidden] (this rank's rows, as above); absent when tie_word_embeddings
  // An embedding checkpoint without any head (Qwen3Model's weights, untied, no lm_head): only
  // Qwen3Model::hidden_states() runs; forward() asking for logits fails.
  bool headless = false;
  // Stored as transformers' Qwen3Model (keys without "model.", as Qwen3-Embedding checkpoints are).
  bool backbone_only = false;

  const Linear& head() const { return lm_head ? *lm_head : embed_tokens; }
  size_t bytes() const;
};

// Weight quantization applied on load to a bf16 / f16 / f32 checkpoint (see docs/quantization.md).
// Fp8: the decoder's linear layers in e4m3 with 128 x 128 block scales (kernels::quantize_fp8);
// the embedding table and lm_head stay as stored, as in Qwen's FP8 checkpoints.
enum class Quant : uint8_t { None, Q8, Q4, Fp8 };
// Exact: float32 activations and accumulation in every matmul (logits within 1e-4 of the
// reference). Fast: bf16 activations in the matmuls of bf16 weights, where the CPU has bf16 dot
// products (AVX512_BF16); other formats are unaffected.
enum class Numerics : uint8_t { Exact, Fast };
// The embedding table and lm_head: Auto = q8 under --quant q8 / q4, else as stored (also for fp8,
// as in Qwen's FP8 checkpoints); Stored = never quantized on load; Q8 = q8 whatever the layers are
// (a float or fp8 checkpoint's head read at 1 byte per weight instead of 2).
enum class HeadFormat : uint8_t { Auto, Stored, Q8 };

struct LoadOptions {
  int rank = 0;
  int world_size = 1;
  // world_size > 1: the embedding table and the head split by vocabulary rows over the ranks (each
  // rank computes its slice of the logits, rank 0 gathers them); false: both replicated, the head
  // computed by rank 0 alone.
  bool vocab_parallel = true;
  Quant quant = Quant::None;
  Numerics numerics = Numerics::Exact;
  HeadFormat head = HeadFormat::Auto;
  // q8 / q4 layers and tables in the layout the active ISA's kernels prefer (row groups under
  // AVX-512: kernels::prefers_row_groups); false keeps them row-major as stored.
  bool kernel_layout = true;
};

// Replaces a float layer's weight by its q8 / q4 quantization (kernels::quantize_weights), or its
// fp8 quantization (kernels::quantize_fp8).
void quantize_linear(Linear& l, kernels::WFormat f);
// fp8 of a fused layer whose rows are parts of `part_rows` rows each (summing to l.out): each part
// is quantized on its own 128 x 128 grid, as it would be unfused (see Linear::scale_rows).
void quantize_linear_fp8(Linear& l, const std::vector<int64_t>& part_rows);
// A q8 / q4 layer rewritten into the row-grouped layout (to_rows) or back to row-major; a no-op
// when it is already in that layout or not q8 / q4.
void set_row_groups(Linear& l, bool to_rows);

// The rows of the embedding table and head that `rank` holds with a vocabulary-parallel head.
ShardRange vocab_rows(int64_t vocab_size, int rank, int world_size);

// Reads the checkpoint in `dir` (validated against `config`) and keeps this rank's slices.
// Errors name the file and the tensor.
Qwen3Weights load_weights(const std::filesystem::path& dir, const Qwen3Config& config, const LoadOptions& opts);

}  // namespace qwen3
