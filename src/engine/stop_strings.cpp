#include "engine/stop_strings.h"

#include <algorithm>
#include <utility>

namespace qwen3::engine {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

// The earliest full match in `text`, or npos.
static size_t first_match(const std::vector<std::string>& stops, const std::string& text) {
  size_t first = std::string::npos;
  for (auto& s : stops) first = std::min(first, text.find(s));
  return first;
}

std::string StopMatcher::feed(std::string_view text) {
  if (stopped_) return {};
  held_.append(text);
  if (stops_.empty()) return std::exchange(held_, {});
  // The longest suffix that is a proper prefix of a stop string: a match may still start there.
  // Stop strings are valid UTF-8, so it starts at a character boundary.
  size_t keep = 0;
  for (auto& s : stops_) {
    const size_t max_len = std::min(s.size() - 1, held_.size());
    for (size_t len = max_len; len > keep; --len)
      if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
        keep = len;
        break;
      }
  }
  const size_t partial = held_.size() - keep;
  // The earliest stop string wins, as one search of the whole text would find it: a full match
  // is final only when no longer stop string could still complete from an earlier start.
  const size_t first = first_match(stops_, held_);
  if (first != std::string::npos && first <= partial) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  std::string out = held_.substr(0, partial);
  held_.erase(0, partial);
  return out;
}

std::string StopMatcher::finish() {
  if (stopped_) return {};
  const size_t first = first_match(stops_, held_);
  if (first != std::string::npos) {
    stopped_ = true;
    held_.resize(first);
  }
  return std::exchange(held_, {});
}

}  // namespace qwen3::engine
