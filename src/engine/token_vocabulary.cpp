#include "engine/token_vocabulary.h"

#include <string>
#include <vector>

#include "core/error.h"

namespace qwen3::engine {

std::shared_ptr<const grammar::TokenVocabulary> make_token_vocabulary(const Tokenizer& tokenizer,
                                                                      std::span<const int32_t> end_ids) {
  const int32_t n = tokenizer.vocab_size();
  std::vector<std::string> bytes(static_cast<size_t>(n));
  std::vector<int32_t> special;
  for (int32_t id = 0; id < n; ++id) {
    if (!tokenizer.contains(id)) continue;  // a hole in the id space: no bytes, never allowed
    if (tokenizer.is_special(id)) special.push_back(id);
    else bytes[static_cast<size_t>(id)] = std::string(tokenizer.token_bytes(id));
  }
  for (int32_t e : end_ids) {
    if (e < 0 || e >= n || !tokenizer.contains(e)) fail("structured output: end-of-sequence id {} is not in the tokenizer", e);
    // An end id the tokenizer does not mark special (a plain-text end token) still only ends.
    bool listed = false;
    for (int32_t s : special) listed = listed || s == e;
    if (!listed) special.push_back(e), bytes[static_cast<size_t>(e)].clear();
  }
  return std::make_shared<const grammar::TokenVocabulary>(std::move(bytes), special, end_ids);
}

}  // namespace qwen3::engine
