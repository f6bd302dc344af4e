// Drafting with a smaller model (or a quantized copy of the target: "self-q4") that shares the
// target's tokenizer. The draft model keeps its own paged KV cache, one sequence per request id,
// and remembers which token ids each sequence's K/V was computed from ("fed"); every call rolls
// that back to the longest common prefix with the request's tokens (the rejected drafts and
// anything else that changed), feeds the rest in one batched forward pass (the "catch-up" chunk:
// the last accepted tokens, or the whole prompt of a new sequence), then decodes the draft tokens
// one batched forward pass per round.
//
//   DraftModelProposer p(Qwen3Model::load(draft_dir), {.name = "draft", .num_pages = 1024,
//                        .target_vocab = target.config().vocab_size});
//
// Token choice uses the request's own processing (sampler.h) over the target's vocabulary: the
// draft's logits row is cut to target_vocab, or padded with -inf (probability 0) when the draft's
// embedding table is smaller. Greedy requests (temperature <= 0) get the argmax and no q; sampled
// ones get a draw from q, which is returned for the verifier's rejection sampling.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/spec/proposer.h"
#include "model/qwen3_model.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::engine {

struct DraftModelOptions {
  std::string name = "draft";     // what name() reports: "draft", "self-q4", ...
  int64_t num_pages = 256;        // the draft's own KV cache
  int page_size = 16;
  KvDType kv_dtype = KvDType::BF16;
  int64_t target_vocab = 0;       // the target's config().vocab_size; 0: the draft's own
};

// Counters for benchmarks (cumulative since construction).
struct DraftModelStats {
  int64_t calls = 0;              // propose() calls
  int64_t forward_passes = 0;     // batched forwards of the draft model
  int64_t tokens_fed = 0;         // tokens whose K/V the draft computed (catch-up + fed drafts)
  int64_t tokens_proposed = 0;
  int64_t dropped = 0;            // sequences dropped because the draft's KV cache was full
  double seconds = 0;             // wall time in propose()
};

class DraftModelProposer : public Proposer {
 public:
  // Owns the draft model: nothing else may run it while the proposer lives (its forward keeps a
  // workspace). Throws qwen3::Error for a non-positive num_pages or page_size.
  DraftModelProposer(std::unique_ptr<Qwen3Model> draft, DraftModelOptions opts);

  std::string name() const override { return opts_.name; }
  // Preconditions: ids distinct within a call; params may be null (greedy, no processing);
  // rng non-null when params->temperature > 0. A request gets an empty draft when the draft's KV
  // cache cannot hold it (its sequence is dropped and recomputed on a later call), when one of its
  // tokens is outside the draft's vocabulary, or at the draft's max_context(); k is also capped so
  // that fed drafts stay below it. Other forward errors propagate with the state consistent.
  void propose(std::span<const DraftRequest> reqs, std::vector<Draft>& out) override;
  void release(SeqId id) override;
  int64_t kv_bytes() const override { return int64_t(kv_.storage().bytes()); }

  const DraftModelStats& stats() const { return stats_; }
  const Qwen3Model& model() const { return *draft_; }
  const KvCache& kv() const { return kv_; }  // for tests: invariants, pages in use

 private:
  // Rolls r's sequence back to what it shares with r.tokens and reserves this call's pages; returns
  // how many tokens to draft (0: none) and the catch-up chunk.
  int prepare(const DraftRequest& r, SeqChunk& chunk);
  // Picks the next draft token of `r` from the draft's logits row, appending it (and q) to `d`.
  void choose(const DraftRequest& r, std::span<const float> row, Draft& d);
  void drop(SeqId id);

  std::unique_ptr<Qwen3Model> draft_;
  DraftModelOptions opts_;
  KvCache kv_;
  std::unordered_map<SeqId, std::vector<int32_t>> fed_;  // per sequence: the ids its K/V holds
  DraftModelStats stats_;
  // Reused between calls (allocation-free once warm, apart from `out` and q rows).
  std::vector<size_t> active_;     // indices into reqs still drafting this round
  std::vector<int> k_;             // per request: tokens to draft this call (0: none)
  std::vector<int32_t> next_;      // per request: the draft token fed in the next round
  std::vector<SeqChunk> chunks_;
  Logits logits_;
  std::vector<float> row_;         // a row padded to target_vocab
  std::vector<int32_t> history_;   // output tokens + drafts so far, for the penalties
  SamplerScratch scratch_;
};

// "" when the draft's tokenizer gives every token the target's tokenizer defines the same id, the
// same string and the same special flag (extra draft tokens past the target's are ignored), else
// the first difference in one line. Tokenizers, not embedding sizes: a draft whose vocab_size
// differs from the target's is fine as long as the tokenizers agree.
std::string compare_vocabularies(const Tokenizer& target, const Tokenizer& draft);

}  // namespace qwen3::engine
