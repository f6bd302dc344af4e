#include "tools/reasoning_split.h"

namespace qwen3::tools {

namespace {
constexpr std::string_view kOpen = "<think>", kClose = "</think>";

// Length of the longest suffix of s that is a proper prefix of tag.
size_t partial_tag(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  return 0;
}
}  // namespace

std::vector<std::pair<bool, std::string>> ReasoningSplit::push(std::string_view text) {
  std::vector<std::pair<bool, std::string>> out;
  held_ += text;
  for (;;) {
    const std::string_view tag = in_reasoning_ ? kClose : kOpen;
    const size_t at = held_.find(tag);
    if (at == std::string::npos) break;
    if (at > 0) out.emplace_back(in_reasoning_, held_.substr(0, at));
    held_.erase(0, at + tag.size());
    in_reasoning_ = !in_reasoning_;
  }
  const size_t keep = partial_tag(held_, in_reasoning_ ? kClose : kOpen);
  if (held_.size() > keep) {
    out.emplace_back(in_reasoning_, held_.substr(0, held_.size() - keep));
    held_.erase(0, held_.size() - keep);
  }
  return out;
}

std::vector<std::pair<bool, std::string>> ReasoningSplit::flush() {
  std::vector<std::pair<bool, std::string>> out;
  if (!held_.empty()) out.emplace_back(in_reasoning_, std::move(held_));
  held_.clear();
  return out;
}

}  // namespace qwen3::tools
