// The tokenizer's vocabulary as the grammar engine sees it (structured output): each id's bytes,
// which ids are special (never matched as text) and which of them end a sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "grammar/token_mask.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::engine {

// Built once per process (about a second for Qwen3's 151,669 ids); share it. `end_ids` (the model's
// end-of-sequence ids) must be ids of the tokenizer.
std::shared_ptr<const grammar::TokenVocabulary> make_token_vocabulary(const Tokenizer& tokenizer,
                                                                      std::span<const int32_t> end_ids);

}  // namespace qwen3::engine
