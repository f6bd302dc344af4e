// Prompt lookup (n-gram) drafting, as vLLM's `ngram` method: the tokens that followed the most
// recent earlier occurrence of the sequence's last n tokens are a good guess of what comes next
// when the output copies from the prompt (code edits, quoting, retrieval answers) or repeats
// itself. No model, no state, no distribution (Draft::q stays empty).
#pragma once

#include "engine/spec/proposer.h"

namespace qwen3::engine {

struct NgramOptions {
  int min_n = 1;  // shortest suffix worth matching (vLLM: prompt_lookup_min)
  int max_n = 3;  // longest suffix tried first (vLLM: prompt_lookup_max)
};

class NgramProposer : public Proposer {
 public:
  explicit NgramProposer(NgramOptions opts = {});  // throws qwen3::Error unless 1 <= min_n <= max_n
  std::string name() const override { return "ngram"; }
  // For each request: the largest n in [min_n, max_n] whose suffix tokens[L-n, L) occurs earlier
  // (starting before L-n; the occurrence may overlap the suffix, so "a b a b a" finds "a b a" at 0
  // and proposes "b a"), its most recent such occurrence, and up to k of the tokens after it
  // (fewer when the history ends first). Cost O(L * max_n) per request, no allocation but `out`.
  void propose(std::span<const DraftRequest> reqs, std::vector<Draft>& out) override;

  // The same for one token history, appended to `draft` (exposed for tests and benchmarks).
  static void lookup(std::span<const int32_t> tokens, int k, const NgramOptions& opts, std::vector<int32_t>& draft);

 private:
  NgramOptions opts_;
};

}  // namespace qwen3::engine
