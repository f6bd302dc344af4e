// Stop strings matched on the generated text as it streams, across token boundaries: text that
// could be the start of a stop string is held back until it is known not to be one. The stop
// string and everything after it are never returned (OpenAI semantics).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qwen3::engine {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);  // empty strings are ignored

  // Adds generated text; returns the text that is now certain to be output. After a stop string
  // is found (stopped() turns true) returns what came before it and nothing more, ever.
  // Precondition: `text` is whole UTF-8 characters (then so is every piece returned).
  std::string feed(std::string_view text);
  // End of generation: returns what was held back (up to a stop string found in it, which can
  // happen when a longer stop string starting earlier was still possible).
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace qwen3::engine
