#include "tools/chat_session.h"

#include <algorithm>
#include <random>

#include "core/error.h"
#include "chat/output_parser.h"

namespace qwen3::tools {

ChatSession::ChatSession(Qwen3Model& model, const Tokenizer& tokenizer, const ChatTemplateRenderer& renderer,
                         std::vector<int32_t> stop_ids, const Options& options,
                         std::unique_ptr<engine::Proposer> proposer)
    : model_(model),
      tokenizer_(tokenizer),
      renderer_(renderer),
      stop_ids_(std::move(stop_ids)),
      options_(options),
      // With a proposer the core holds the K/V instead: this cache stays at one page.
      kv_(model.kv_options(proposer ? 1 : (options.context_tokens + 15) / 16, 16, options.kv_dtype)),
      rng_(options.sampling.seed ? *options.sampling.seed : std::random_device{}()) {
  kv_.add_sequence(0);
  reset();
  if (proposer) {
    engine::CoreOptions co =
        single_sequence_core_options(options.context_tokens, options.spec.max_k, options.kv_dtype, stop_ids_);
    co.spec = options.spec;
    co.prefix_cache = true;
    core_ = std::make_unique<engine::EngineCore>(model, std::move(co), std::move(proposer));
  }
}

void ChatSession::reset() {
  messages_ = nlohmann::ordered_json::array();
  if (!options_.system.empty()) messages_.push_back({{"role", "system"}, {"content", options_.system}});
  kv_.pop(0, kv_.num_tokens(0));
  cached_.clear();
}

ChatTurn ChatSession::reply(const std::string& user_message, bool enable_thinking,
                            const std::function<void(const std::string&)>& on_reasoning,
                            const std::function<void(const std::string&)>& on_content) {
  nlohmann::ordered_json messages = messages_;
  messages.push_back({{"role", "user"}, {"content", user_message}});
  const std::string prompt_text = renderer_.render(messages, /*add_generation_prompt=*/true, enable_thinking);
  const std::vector<int32_t> prompt = tokenizer_.encode(prompt_text);
  const int64_t capacity = options_.context_tokens;
  if (int64_t(prompt.size()) + options_.max_tokens > capacity)
    throw KvCacheFull(fmt::format("the conversation is {} tokens and a reply may take {} more, the context holds {}",
                                  prompt.size(), options_.max_tokens, capacity));

  // Keep the K/V of the longest common prefix with what the cache holds; prefill the rest (at least
  // one token, whose logits start the reply).
  // (With the core, its prefix cache does this by whole pages.)
  size_t common = 0;
  if (!core_) {
    while (common < cached_.size() && common < prompt.size() && cached_[common] == prompt[common]) ++common;
    if (common == prompt.size()) --common;
    kv_.pop(0, int64_t(cached_.size() - common));
    cached_.resize(common);
  }

  ChatTurn turn;
  turn.reused_tokens = int64_t(common);
  StreamingDetokenizer detok(tokenizer_, /*skip_special_tokens=*/true);
  // Generation starts inside the reasoning block when the rendered prompt opened <think> without
  // closing it (some templates do; Qwen3's closes an empty block itself when thinking is off).
  OutputParser parser(OutputParserOptions{.in_reasoning = prompt_opens_reasoning(prompt_text)});
  auto take = [&](const ChatOutput& d) {
    turn.reasoning += d.reasoning;
    turn.content += d.content;
    if (!d.reasoning.empty() && on_reasoning) on_reasoning(d.reasoning);
    if (!d.content.empty() && on_content) on_content(d.content);
    for (auto& call : d.tool_calls) {
      turn.tool_calls.push_back(call);
      if (on_content) on_content("[tool call " + call.name + " " + call.arguments + "]");
    }
  };
  auto emit = [&](const std::string& text) { take(parser.feed(text)); };
  auto on_token = [&](int32_t id) {
    // The embedding has rows past the tokenizer's vocabulary (151936 vs 151669 in Qwen3); such an
    // id has no text, and Hugging Face's decode drops it too.
    if (tokenizer_.contains(id)) emit(detok.push(id));
    return !(options_.interrupt && options_.interrupt->load());
  };
  if (core_) {
    engine::SamplingParams sp = options_.sampling;
    sp.max_tokens = options_.max_tokens;
    sp.seed = rng_.next();  // each turn's request draws from the session's stream
    turn.stats = generate_with_core(*core_, next_id_++, prompt, std::move(sp), on_token, &turn.reused_tokens);
    turn.stats.prompt_tokens -= turn.reused_tokens;  // as below: the tokens prefilled
  } else {
    GenerationParams params;
    params.max_tokens = options_.max_tokens;
    params.stop_ids = stop_ids_;
    params.sampling = options_.sampling;
    params.context = std::span<const int32_t>(prompt.data(), common);
    params.rng = &rng_;
    const std::span<const int32_t> fresh(prompt.data() + common, prompt.size() - common);
    turn.stats = generate_tokens(model_, kv_, 0, fresh, params, on_token);
  }
  emit(detok.flush());
  take(parser.finish());
  // The cache now holds the prompt and every generated token but the last.
  if (!core_) {
    cached_ = prompt;
    if (!turn.stats.ids.empty()) cached_.insert(cached_.end(), turn.stats.ids.begin(), turn.stats.ids.end() - 1);
  }

  messages_ = std::move(messages);
  nlohmann::ordered_json reply = {{"role", "assistant"}, {"content", turn.content}};
  if (!turn.reasoning.empty()) reply["reasoning_content"] = turn.reasoning;
  if (!turn.tool_calls.empty()) {
    reply["tool_calls"] = nlohmann::ordered_json::array();
    for (auto& call : turn.tool_calls)
      reply["tool_calls"].push_back(
          {{"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
  }
  messages_.push_back(std::move(reply));
  return turn;
}

}  // namespace qwen3::tools
