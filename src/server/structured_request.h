// Structured output in OpenAI requests: response_format (json_object, json_schema), vLLM's
// guided_json / guided_regex / guided_choice / guided_grammar, and tool_choice "required" or a named
// function (the model must answer with Hermes <tool_call> blocks whose arguments match the tool's
// parameter schema). Each becomes GBNF text (grammar/), compiled here on the request's thread
// through a cache, never on the engine thread. Every problem is an ApiError 400 naming the field.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "grammar/grammar.h"
#include "grammar/token_mask.h"
#include "server/openai_api.h"

namespace qwen3::server {

struct StructuredOptions {
  bool chat = true;            // /v1/chat/completions (tool_choice is read there only)
  bool reasoning = false;      // the text may start after a reasoning block: leading newlines allowed
  Json tools;                  // the request's tools (null: none)
};

// The GBNF of the request's constraint, or nullopt when it asks for none. `param` is set to the
// field it came from (for errors at compile time).
std::optional<std::string> structured_grammar(const Json& body, const StructuredOptions& options, std::string* param);

// Compiled grammars by GBNF text, each with its token masker over `vocab` with every state's mask
// precomputed (so that the engine thread never meets a cold state), least recently used dropped
// past max_bytes (the automaton's size estimate plus the masks). Thread-safe; a masker handed out
// is used by the engine thread only.
class GrammarCache {
 public:
  struct Compiled {
    std::shared_ptr<const grammar::CompiledGrammar> grammar;
    std::shared_ptr<grammar::TokenMasker> masker;  // null without a vocabulary
  };
  explicit GrammarCache(std::shared_ptr<const grammar::TokenVocabulary> vocab, size_t max_bytes = 256u << 20,
                        grammar::GrammarLimits limits = {})
      : vocab_(std::move(vocab)), max_bytes_(max_bytes), limits_(limits) {}
  // Throws ApiError 400 (naming `param`) when the grammar does not compile or exceeds a limit.
  Compiled get(const std::string& gbnf, const std::string& param);
  size_t bytes() const;
  size_t size() const;

 private:
  struct Entry {
    Compiled compiled;
    size_t bytes;
    std::list<std::string>::iterator lru;
  };
  std::shared_ptr<const grammar::TokenVocabulary> vocab_;
  mutable std::mutex mu_;
  size_t max_bytes_, bytes_ = 0;
  grammar::GrammarLimits limits_;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace qwen3::server
