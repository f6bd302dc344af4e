#include "model/qwen3_model.h"

#include <algorithm>

#include "core/error.h"

namespace qwen3 {

std::unique_ptr<Qwen3Model> Qwen3Model::load(const std::filesystem::path& dir, const LoadOptions& opts) {
  Qwen3Config config = Qwen3Config::load(dir / "config.json");
  Qwen3Weights weights = load_weights(dir, config, opts);
  auto m = std::make_unique<Qwen3Model>(std::move(config), std::move(weights));
  m->q_heads_ = m->config_.num_attention_heads / opts.world_size;
  m->kv_heads_ = std::max<int64_t>(1, m->config_.num_key_value_heads / opts.world_size);  // replicated when fewer
  m->inter_ = m->config_.intermediate_size / opts.world_size;
  m->numerics_ = opts.numerics;
  return m;
}

std::unique_ptr<Qwen3Model> Qwen3Model::load(const std::filesystem::path& dir, LoadOptions opts, Communicator& comm) {
  opts.rank = comm.rank();
  opts.world_size = comm.size();
  auto m = load(dir, opts);
  m->comm_ = &comm;
  return m;
}

Qwen3Model::Qwen3Model(Qwen3Config config, Qwen3Weights weights)
    : config_(std::move(config)), weights_(std::move(weights)), rope_(compute_rope(config_)) {
  q_heads_ = config_.num_attention_heads;
  kv_heads_ = config_.num_key_value_heads;
  inter_ = config_.intermediate_size;
  if (weights_.vocab.size == 0) weights_.vocab = {0, config_.vocab_size};
}

KvCacheOptions Qwen3Model::kv_options(int64_t num_pages, int page_size, KvDType kv_dtype) const {
  KvCacheOptions o;
  o.num_layers = int(config_.num_hidden_layers);
  o.num_kv_heads = int(kv_heads_);
  o.head_dim = int(config_.head_dim);
  o.page_size = page_size;
  o.num_pages = num_pages;
  o.dtype = kv_dtype;
  o.journal = tensor_parallel() && comm_->rank() == 0;
  return o;
}

std::vector<float> Qwen3Model::embed(std::span<const int32_t> ids) const {
  const int64_t H = config_.hidden_size;
  std::vector<float> out(ids.size() * size_t(H));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= config_.vocab_size)
      fail("embed: token id {} (index {}) is outside the vocabulary [0, {})", ids[i], i, config_.vocab_size);
    if (weights_.vocab.size != config_.vocab_size)
      fail("embed: this model holds a tensor-parallel slice of the embedding table; embed() needs all of it "
           "(load with vocab_parallel = false)");
    kernels::load_row(weights_.embed_tokens.view(), ids[i], &out[i * size_t(H)]);
  }
  return out;
}

Logits Qwen3Model::prefill(SeqId seq, std::span<const int32_t> ids, KvCache& kv) {
  const SeqChunk ch{seq, ids, LogitsWanted::Last};
  return forward({&ch, 1}, kv);
}

Logits Qwen3Model::batch_prefill(std::span<const SeqChunk> chunks, KvCache& kv) { return forward(chunks, kv); }

Logits Qwen3Model::batch_decode(std::span<const SeqId> seqs, std::span<const int32_t> ids, KvCache& kv) {
  if (seqs.size() != ids.size()) fail("decode: {} sequences but {} tokens", seqs.size(), ids.size());
  std::vector<SeqChunk> chunks;
  for (size_t i = 0; i < seqs.size(); ++i) chunks.push_back({seqs[i], ids.subspan(i, 1), LogitsWanted::Last});
  return forward(chunks, kv);
}

Logits Qwen3Model::decode(std::span<const SeqId> seqs, std::span<const int32_t> ids, KvCache& kv) {
  return batch_decode(seqs, ids, kv);
}

Logits Qwen3Model::batch_verify(std::span<const SeqId> seqs, std::span<const std::vector<int32_t>> drafts, KvCache& kv) {
  if (seqs.size() != drafts.size()) fail("verify: {} sequences but {} drafts", seqs.size(), drafts.size());
  std::vector<SeqChunk> chunks;
  for (size_t i = 0; i < seqs.size(); ++i) chunks.push_back({seqs[i], drafts[i], LogitsWanted::All});
  return forward(chunks, kv);
}

}  // namespace qwen3
