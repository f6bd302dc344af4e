#include "engine/spec/ngram_proposer.h"

#include <algorithm>

#include "core/error.h"

namespace qwen3::engine {

NgramProposer::NgramProposer(NgramOptions opts) : opts_(opts) {
  if (opts_.min_n < 1 || opts_.max_n < opts_.min_n)
    fail("ngram proposer: need 1 <= min_n <= max_n, got min_n {} and max_n {}", opts_.min_n, opts_.max_n);
}

// One backward scan over the end positions e of candidate occurrences (e <= L-2, so at least one
// token follows and the suffix never matches itself). m(e), the length of the common suffix of
// tokens[0, e] and tokens[0, L) capped at max_n, costs O(max_n); the answer is n = max m(e) (when
// >= min_n) at the largest e reaching it. Scanning from the end, the first e with m(e) == max_n
// ends the search.
void NgramProposer::lookup(std::span<const int32_t> t, int k, const NgramOptions& o, std::vector<int32_t>& draft) {
  const int64_t L = int64_t(t.size());
  if (k <= 0 || L < 2) return;
  const int64_t max_n = std::min<int64_t>(o.max_n, L - 1);  // a suffix of L-1 tokens can still occur at 0
  int64_t best_n = 0, best_e = -1;
  for (int64_t e = L - 2; e >= 0; --e) {
    const int64_t cap = std::min(max_n, e + 1);
    if (cap <= best_n) break;  // earlier positions have shorter room: nothing better can come
    int64_t m = 0;
    while (m < cap && t[size_t(e - m)] == t[size_t(L - 1 - m)]) ++m;
    if (m > best_n) {
      best_n = m, best_e = e;
      if (m == max_n) break;
    }
  }
  if (best_n < o.min_n) return;
  const int64_t end = std::min(L, best_e + 1 + k);
  draft.insert(draft.end(), t.begin() + (best_e + 1), t.begin() + end);
}

void NgramProposer::propose(std::span<const DraftRequest> reqs, std::vector<Draft>& out) {
  out.resize(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    out[i].tokens.clear();
    out[i].q.clear();
    lookup(reqs[i].tokens, reqs[i].k, opts_, out[i].tokens);
  }
}

}  // namespace qwen3::engine
