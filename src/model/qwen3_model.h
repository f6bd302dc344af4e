// The Qwen3 model API (see DESIGN.md, "The model contract"): one ragged-batch forward pass over a
// paged KV cache, and the MLC-LLM entry points as thin wrappers over it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "kv/kv_cache.h"
#include "model/qwen3_config.h"
#include "model/qwen3_weights.h"
#include "parallel/communicator.h"

namespace qwen3 {

enum class LogitsWanted { None, Last, All };

// New tokens of one sequence. The sequence must exist in the KV cache; its tokens are appended at
// positions num_tokens(seq), num_tokens(seq) + 1, ...
struct SeqChunk {
  SeqId seq = 0;
  std::span<const int32_t> tokens;
  LogitsWanted want = LogitsWanted::Last;
};

// Logits rows in batch order: for each chunk, the rows it asked for, in token order.
struct Logits {
  struct Row {
    size_t chunk = 0;    // index into the batch
    int64_t token = 0;   // index into that chunk's tokens
  };
  int64_t vocab_size = 0;
  std::vector<Row> rows;
  std::vector<float> data;  // [rows.size(), vocab_size]

  std::span<const float> row(size_t i) const { return {data.data() + i * size_t(vocab_size), size_t(vocab_size)}; }
};

class Qwen3Model {
 public:
  static std::unique_ptr<Qwen3Model> load(const std::filesystem::path& dir, const LoadOptions& opts = {});
  // Tensor parallel: this rank's slices (opts.rank and opts.world_size are taken from comm), and
  // forward() runs the collectives. On rank 0, forward() first sends the step to the other ranks,
  // which run the same forward() on mirror caches (model/tp_mirror.h: tp_serve); only rank 0
  // gets logits.
  static std::unique_ptr<Qwen3Model> load(const std::filesystem::path& dir, LoadOptions opts, Communicator& comm);
  Qwen3Model(Qwen3Config config, Qwen3Weights weights);

  const Qwen3Config& config() const { return config_; }
  const Qwen3Weights& weights() const { return weights_; }
  Numerics numerics() const { return numerics_; }
  // KV cache geometry for this model on this rank.
  // On rank 0 of a tensor-parallel model the cache records its changes for the other ranks.
  KvCacheOptions kv_options(int64_t num_pages, int page_size = 16, KvDType kv_dtype = KvDType::BF16) const;
  Communicator* communicator() const { return comm_; }
  bool tensor_parallel() const { return comm_ && comm_->size() > 1; }

  // The one forward pass. Validates the whole batch first (known sequences, each at most once,
  // token ids in range, positions below config().max_context(), enough KV pages: KvCacheFull), so
  // that on error nothing has changed. Appends K/V of every token and returns the logits asked for.
  Logits forward(std::span<const SeqChunk> batch, KvCache& kv);
  // The same, into `out`, whose buffer is reused (a server step does not allocate and fault in a
  // fresh [rows, vocab] block every time).
  void forward(std::span<const SeqChunk> batch, KvCache& kv, Logits& out);
  // The same up to the final RMSNorm, without the head: the rows asked for hold transformers'
  // Qwen3Model last_hidden_state, [rows, hidden_size] (out.vocab_size is then hidden_size), which
  // embedding checkpoints pool. One process only: fails under tensor parallelism.
  void hidden_states(std::span<const SeqChunk> batch, KvCache& kv, Logits& out);

  // --- MLC-LLM entry points ---
  std::vector<float> embed(std::span<const int32_t> ids) const;  // [ids.size(), hidden_size]
  Logits prefill(SeqId seq, std::span<const int32_t> ids, KvCache& kv);           // logits of the last token
  Logits decode(std::span<const SeqId> seqs, std::span<const int32_t> ids, KvCache& kv);  // one token per seq
  Logits batch_prefill(std::span<const SeqChunk> chunks, KvCache& kv);
  Logits batch_decode(std::span<const SeqId> seqs, std::span<const int32_t> ids, KvCache& kv);
  // Several draft tokens per sequence, logits for all of them; the caller pops the rejected ones.
  Logits batch_verify(std::span<const SeqId> seqs, std::span<const std::vector<int32_t>> drafts, KvCache& kv);

 private:
  void run(std::span<const SeqChunk> batch, KvCache& kv, Logits& out, bool hidden);

  Qwen3Config config_;
  Qwen3Weights weights_;
  RopeParams rope_;
  int64_t q_heads_ = 0, kv_heads_ = 0, inter_ = 0;  // on this rank
  Communicator* comm_ = nullptr;  // null: one process
  Numerics numerics_ = Numerics::Exact;
  // Activations of forward(), [tokens, features] each; they grow to the largest batch and stay.
  struct Workspace {
    std::vector<float> x, h, qkv, attn, gate_up, act, tmp, cos, sin, sel, local_logits, gathered;
  };
  Workspace workspace_;
};

}  // namespace qwen3
