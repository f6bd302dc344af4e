// The engine's output stage: the tokens a choice produced (EngineCore's CoreOutput) become text,
// through the streaming detokenizer and the stop strings. Token-level work (sampling, stop ids,
// max_tokens) is the core's; reasoning and tool-call parsing are the server's (they depend on the
// chat template), on the text this produces.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/engine_core.h"
#include "engine/stop_strings.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::engine {

// What one choice produced since its last delta.
struct ChoiceDelta {
  int index = 0;
  std::string text;                 // whole UTF-8 characters; stop strings and what follows removed
  std::vector<TokenInfo> tokens;    // the tokens behind it (text may lag them by an incomplete character)
  std::optional<FinishReason> finish;
  int64_t cached_tokens = 0;        // the request's prompt tokens found in the prefix cache
};

class OutputProcessor {
 public:
  explicit OutputProcessor(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  void add(RequestId id, int index, const std::vector<std::string>& stop);
  struct Result {
    ChoiceDelta delta;
    bool done = false;              // the choice ended (delta.finish is set); it is forgotten
    bool stopped_by_string = false; // it ended on a stop string: the core must abort it
  };
  // The delta of o's tokens, in order, up to a stop string found among them (the tokens after it
  // are dropped).
  Result process(const CoreOutput& o);
  void remove(RequestId id) { choices_.erase(id); }

 private:
  struct Choice {
    int index = 0;
    StreamingDetokenizer detok;
    StopMatcher stop;
  };
  const Tokenizer& tokenizer_;
  std::unordered_map<RequestId, Choice> choices_;
};

}  // namespace qwen3::engine
