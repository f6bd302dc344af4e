#include "engine/pooling.h"

#include <algorithm>
#include <cmath>

namespace qwen3::engine {

namespace {

constexpr std::string_view kRerankPrefix =
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    "provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n";
constexpr std::string_view kRerankSuffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

}  // namespace

Pooler::Pooler(Qwen3Model& model, const Tokenizer& tokenizer, ModelTask task, const PoolingOptions& opts)
    : model_(model), tok_(tokenizer), task_(task), opts_(opts),
      kv_(model.kv_options(std::max<int64_t>(1, opts.kv_pages), opts.page_size, opts.kv_dtype)) {
  if (task == ModelTask::Generate) fail("a Pooler serves embed or rerank, not generate");
  if (opts.max_batch_tokens < 1) fail("max_batch_tokens must be >= 1, got {}", opts.max_batch_tokens);
  max_context_ = std::min<int64_t>(model.config().max_context(), kv_.options().num_pages * opts.page_size);
  if (task == ModelTask::Rerank) {
    const auto yes = tok_.token_to_id("yes"), no = tok_.token_to_id("no");
    if (!yes || !no) fail("tokenizer.json has no \"yes\" or \"no\" token, which a Qwen3 reranker scores");
    yes_id_ = *yes, no_id_ = *no;
    if (yes_id_ >= model.config().vocab_size || no_id_ >= model.config().vocab_size)
      fail("the \"yes\" / \"no\" token ids ({}, {}) are outside the model's vocabulary ({})", yes_id_, no_id_,
           model.config().vocab_size);
    rerank_prefix_ = tok_.encode(kRerankPrefix);
    rerank_suffix_ = tok_.encode(kRerankSuffix);
  }
}

std::vector<int32_t> Pooler::embedding_tokens(std::string_view text, std::string_view instruction) const {
  if (instruction.empty()) return tok_.encode_with_special_tokens(text);
  std::string s = "Instruct: ";
  s.append(instruction).append("\nQuery:").append(text);
  return tok_.encode_with_special_tokens(s);
}

std::vector<int32_t> Pooler::rerank_tokens(std::string_view query, std::string_view document,
                                           std::string_view instruction) const {
  // As the model card's process_inputs: prefix, the pair's text, suffix, each tokenized on its own.
  std::string body = "<Instruct>: ";
  body.append(instruction).append("\n<Query>: ").append(query).append("\n<Document>: ").append(document);
  std::vector<int32_t> ids = rerank_prefix_;
  tok_.encode(body, ids);
  ids.insert(ids.end(), rerank_suffix_.begin(), rerank_suffix_.end());
  return ids;
}

template <class OnRow>
void Pooler::run(std::span<const std::vector<int32_t>> inputs, bool hidden, const char* param, OnRow on_row) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) throw PoolingInputError(param, fmt::format("{}[{}] is empty", param, i));
    if (int64_t(inputs[i].size()) > max_context_)
      throw PoolingInputError(param, fmt::format("{}[{}] is {} tokens; this model takes at most {} per input", param, i,
                                                 inputs[i].size(), max_context_));
    for (int32_t id : inputs[i])
      if (id < 0 || id >= model_.config().vocab_size)
        throw PoolingInputError(param, fmt::format("{}[{}] holds token id {}, outside the vocabulary [0, {})", param, i,
                                                   id, model_.config().vocab_size));
  }
  std::lock_guard lk(mu_);
  const int64_t page = opts_.page_size, pages_total = kv_.options().num_pages;
  std::vector<SeqChunk> batch;
  for (size_t begin = 0; begin < inputs.size();) {
    // As many inputs as fit the token budget and the cache (at least one).
    size_t end = begin;
    int64_t tokens = 0, pages = 0;
    while (end < inputs.size()) {
      const int64_t n = int64_t(inputs[end].size()), p = (n + page - 1) / page;
      if (end > begin && (tokens + n > opts_.max_batch_tokens || pages + p > pages_total)) break;
      tokens += n, pages += p, ++end;
    }
    batch.clear();
    for (size_t i = begin; i < end; ++i) {
      kv_.add_sequence(SeqId(i));
      batch.push_back({SeqId(i), inputs[i], LogitsWanted::Last});
    }
    try {
      if (hidden) model_.hidden_states(batch, kv_, out_);
      else model_.forward(batch, kv_, out_);
    } catch (...) {
      for (auto& ch : batch) kv_.remove_sequence(ch.seq);
      throw;
    }
    for (auto& ch : batch) kv_.remove_sequence(ch.seq);
    for (size_t r = 0; r < out_.rows.size(); ++r) on_row(begin + out_.rows[r].chunk, out_.row(r));
    begin = end;
  }
}

std::vector<std::vector<float>> Pooler::embed(std::span<const std::vector<int32_t>> inputs, int64_t dimensions) {
  const int64_t H = hidden_size();
  if (dimensions < 0 || dimensions > H)
    throw PoolingInputError("dimensions", fmt::format("dimensions must be 1..{} (this model's hidden size), got {}", H,
                                                      dimensions));
  const size_t d = size_t(dimensions == 0 ? H : dimensions);
  std::vector<std::vector<float>> out(inputs.size());
  run(inputs, /*hidden=*/true, "input", [&](size_t i, std::span<const float> row) {
    // Matryoshka: the first d values, then L2 normalization (torch's F.normalize: x / max(|x|, 1e-12)).
    double sq = 0;
    for (size_t k = 0; k < d; ++k) sq += double(row[k]) * double(row[k]);
    const double inv = 1.0 / std::max(std::sqrt(sq), 1e-12);
    out[i].resize(d);
    for (size_t k = 0; k < d; ++k) out[i][k] = float(double(row[k]) * inv);
  });
  return out;
}

std::vector<double> Pooler::rerank(std::span<const std::vector<int32_t>> prompts) {
  std::vector<double> scores(prompts.size());
  run(prompts, /*hidden=*/false, "documents", [&](size_t i, std::span<const float> logits) {
    // softmax over (no, yes), the "yes" probability
    scores[i] = 1.0 / (1.0 + std::exp(double(logits[size_t(no_id_)]) - double(logits[size_t(yes_id_)])));
  });
  return scores;
}

}  // namespace qwen3::engine
