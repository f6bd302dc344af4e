// Embeddings and reranking on Qwen3-Embedding and Qwen3-Reranker checkpoints, as their model cards
// define them (docs/server.md, "Embeddings and rerank"):
//
//   embedding(text) = normalize(last_hidden_state[last token])   over encode(text) + <|endoftext|>
//     (tokenizer.json's post-processor appends it; a query with an instruction is
//     "Instruct: {instruction}\nQuery:{text}"); `dimensions` (Matryoshka) keeps the first d values
//     and normalizes again.
//   score(query, doc) = softmax(logits["no"], logits["yes"])["yes"] at the last position of
//     <|im_start|>system\nJudge whether the Document meets the requirements based on the Query and
//     the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n
//     <|im_start|>user\n<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}<|im_end|>\n
//     <|im_start|>assistant\n<think>\n\n</think>\n\n
//
// Inputs run as ragged batches of at most max_batch_tokens tokens through one forward pass each;
// by the batch-invariance contract each input's result is the same bits as when it runs alone.
// One call at a time holds the model (a mutex): the server's threads share one Pooler.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "kv/kv_cache.h"
#include "model/model_task.h"
#include "model/qwen3_model.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::engine {

// Qwen3-Reranker's default instruction (its model card).
inline constexpr std::string_view kDefaultRerankInstruction =
    "Given a web search query, retrieve relevant passages that answer the query";

// Input the caller can fix (empty, too long, a dimension out of range): a 400 in the server.
struct PoolingInputError : Error {
  std::string param;  // the request parameter at fault
  PoolingInputError(std::string p, const std::string& what) : Error(what), param(std::move(p)) {}
};

struct PoolingOptions {
  int64_t kv_pages = 0;        // the cache for one batch; bounds the longest input with the context
  int page_size = 16;
  KvDType kv_dtype = KvDType::BF16;
  int64_t max_batch_tokens = 8192;  // tokens per forward pass (a longer input runs alone)
};

class Pooler {
 public:
  Pooler(Qwen3Model& model, const Tokenizer& tokenizer, ModelTask task, const PoolingOptions& opts);

  ModelTask task() const { return task_; }
  // The longest input in tokens: the model's max_context(), or the KV cache if smaller.
  int64_t max_context() const { return max_context_; }
  int64_t hidden_size() const { return model_.config().hidden_size; }

  // Embedding input ids of a text (with its instruction when not empty).
  std::vector<int32_t> embedding_tokens(std::string_view text, std::string_view instruction = {}) const;
  // One L2-normalized vector per input, of `dimensions` values (0: hidden_size; else 1..hidden_size,
  // truncated then normalized). Throws PoolingInputError ("input") for an empty or too long input.
  std::vector<std::vector<float>> embed(std::span<const std::vector<int32_t>> inputs, int64_t dimensions = 0);

  // Reranker input ids of one (query, document) pair.
  std::vector<int32_t> rerank_tokens(std::string_view query, std::string_view document,
                                     std::string_view instruction = kDefaultRerankInstruction) const;
  // P("yes") of each prompt. Throws PoolingInputError ("documents") for one too long.
  std::vector<double> rerank(std::span<const std::vector<int32_t>> prompts);

 private:
  // Runs the inputs in batches; on_row(i, row) gets input i's last-token row (hidden state or logits).
  template <class OnRow>
  void run(std::span<const std::vector<int32_t>> inputs, bool hidden, const char* param, OnRow on_row);

  Qwen3Model& model_;
  const Tokenizer& tok_;
  ModelTask task_;
  PoolingOptions opts_;
  int64_t max_context_ = 0;
  int32_t yes_id_ = -1, no_id_ = -1;
  std::vector<int32_t> rerank_prefix_, rerank_suffix_;
  std::mutex mu_;  // one forward at a time
  KvCache kv_;
  Logits out_;
};

}  // namespace qwen3::engine
