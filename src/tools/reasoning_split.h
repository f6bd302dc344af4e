// Splits streamed model text at Qwen3's reasoning tags for display: what is inside
// <think>...</think> is reasoning, the rest is the answer. Incremental: text may arrive cut anywhere,
// even inside a tag; only a possible partial tag at the end is held back.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qwen3::tools {

class ReasoningSplit {
 public:
  // `in_reasoning`: the prompt already opened <think> (generation starts inside the block).
  explicit ReasoningSplit(bool in_reasoning = false) : in_reasoning_(in_reasoning) {}

  // Pieces (is_reasoning, text) that became certain.
  std::vector<std::pair<bool, std::string>> push(std::string_view text);
  // What was held back, when the stream ends.
  std::vector<std::pair<bool, std::string>> flush();

 private:
  bool in_reasoning_;
  std::string held_;
};

}  // namespace qwen3::tools
