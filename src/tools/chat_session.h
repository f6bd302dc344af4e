// Chat for the CLI: the checkpoint's chat template, the end-of-sequence ids, and a multi-turn
// session that keeps its KV cache between turns (only the part of the rendered conversation that
// changed is prefilled again). With a proposer, each reply is generated speculatively through one
// engine core for the session (its prefix cache keeps the earlier turns' full KV pages); the text
// is the same.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_renderer.h"
#include "chat/chat_template.h"
#include "chat/output_parser.h"
#include "engine/engine_core.h"
#include "engine/generation_defaults.h"
#include "engine/spec/proposer.h"
#include "model/qwen3_model.h"
#include "tokenizer/tokenizer.h"
#include "tools/generation.h"

namespace qwen3::tools {

using qwen3::ChatTemplateRenderer;
using qwen3::end_of_sequence_ids;

struct ChatTurn {
  std::string reasoning, content;  // what the assistant said, split at </think>
  std::vector<ToolCall> tool_calls;
  GenerationResult stats;
  int64_t reused_tokens = 0;       // prompt tokens whose KV was kept from the previous turn (or found
                                   // in the prefix cache, with a proposer)
};

class ChatSession {
 public:
  struct Options {
    int64_t context_tokens = 8192;  // KV cache size
    KvDType kv_dtype = KvDType::BF16;
    int max_tokens = 1024;          // per reply
    engine::DraftLengthOptions spec;  // with a proposer
    // How replies are sampled; one generator for the session, so that a seeded conversation repeats.
    engine::SamplingParams sampling = greedy_sampling();
    std::string system;             // the system message that starts every conversation ("": none)
    // When it turns true (Ctrl-C), the reply ends after the current token, finish "cancelled"; the
    // conversation keeps what was said.
    const std::atomic<bool>* interrupt = nullptr;
  };
  ChatSession(Qwen3Model& model, const Tokenizer& tokenizer, const ChatTemplateRenderer& renderer,
              std::vector<int32_t> stop_ids, const Options& options,
              std::unique_ptr<engine::Proposer> proposer = nullptr);

  // Adds the user's message and generates the reply. `on_reasoning` and `on_content` receive the
  // text as it streams (reasoning is what comes before </think>).
  ChatTurn reply(const std::string& user_message, bool enable_thinking,
                 const std::function<void(const std::string&)>& on_reasoning,
                 const std::function<void(const std::string&)>& on_content);
  void reset();  // back to the system message alone
  // The conversation in OpenAI's messages shape; set_messages replaces it (the next reply reuses the
  // K/V of whatever prefix the new conversation shares with the cache).
  const nlohmann::ordered_json& messages() const { return messages_; }
  void set_messages(nlohmann::ordered_json messages) { messages_ = std::move(messages); }
  const engine::EngineCore* core() const { return core_.get(); }  // null without a proposer

 private:
  Qwen3Model& model_;
  const Tokenizer& tokenizer_;
  const ChatTemplateRenderer& renderer_;
  std::vector<int32_t> stop_ids_;
  Options options_;
  KvCache kv_;
  std::vector<int32_t> cached_;  // tokens whose K/V are in the cache, in order
  std::unique_ptr<engine::EngineCore> core_;  // with a proposer, instead of kv_
  engine::RequestId next_id_ = 1;
  engine::Rng rng_;
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
};

}  // namespace qwen3::tools
