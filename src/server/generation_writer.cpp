#include "server/generation_writer.h"

#include <fmt/format.h>

#include <algorithm>

namespace qwen3::server {

GenerationWriter::GenerationWriter(const Tokenizer& tok, GenerationInfo info)
    : tok_(tok), info_(std::move(info)), call_prefix_(random_id("call_") + "_") {
  for (int i = 0; i < info_.n; ++i)
    choices_.push_back(Choice{OutputParser(OutputParserOptions{.in_reasoning = info_.prompt_opens_reasoning,
                                                               .parse_reasoning = true,
                                                               .parse_tool_calls = info_.parse_tool_calls}),
                              {}, {}, {}, 0, 0, 0, false, engine::FinishReason::Error});
}

std::string GenerationWriter::sse(const Json& chunk) const { return "data: " + dump(chunk) + "\n\n"; }

Json GenerationWriter::chunk_base() const {
  Json j = {{"id", info_.id},
            {"object", info_.endpoint == Endpoint::Chat ? "chat.completion.chunk" : "text_completion"},
            {"created", info_.created},
            {"model", info_.model},
            {"choices", Json::array()}};
  if (info_.include_usage) j["usage"] = nullptr;
  return j;
}

Json GenerationWriter::usage() const {
  const int64_t c = completion_tokens();
  return {{"prompt_tokens", info_.prompt_tokens},
          {"completion_tokens", c},
          {"total_tokens", info_.prompt_tokens + c},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens_}}}};
}

int64_t GenerationWriter::completion_tokens() const {
  int64_t n = 0;
  for (auto& c : choices_) n += c.generated;
  return n;
}

bool GenerationWriter::all_finished() const {
  for (auto& c : choices_)
    if (!c.finished) return false;
  return true;
}

std::string GenerationWriter::finish_reasons() const {
  std::string s;
  for (auto& c : choices_) {
    if (!s.empty()) s += ",";
    s += c.finished ? finish_reason_string(c.reason, c.tool_calls > 0) : "open";
  }
  return s;
}

std::string GenerationWriter::begin() {
  if (!info_.stream || info_.endpoint != Endpoint::Chat) return {};
  std::string out;
  for (int i = 0; i < info_.n; ++i) {
    Json j = chunk_base();
    j["choices"].push_back({{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
    out += sse(j);
  }
  return out;
}

std::string GenerationWriter::add(std::vector<engine::ChoiceDelta>& deltas) {
  std::string out;
  for (auto& d : deltas) {
    if (d.index < 0 || d.index >= int(choices_.size())) continue;
    Choice& c = choices_[size_t(d.index)];
    c.generated += int64_t(d.tokens.size());
    cached_tokens_ = std::max(cached_tokens_, d.cached_tokens);
    out += info_.endpoint == Endpoint::Chat ? add_chat(c, d) : add_completion(c, d);
    if (d.finish) {
      c.finished = true;
      c.reason = *d.finish;
    }
  }
  return out;
}

std::string GenerationWriter::add_chat(Choice& c, engine::ChoiceDelta& d) {
  ChatOutput o = c.parser.feed(d.text);
  if (d.finish) o.append(c.parser.finish());
  if (!info_.stream) {
    c.all.append(o);
    if (info_.logprobs) c.tokens.insert(c.tokens.end(), d.tokens.begin(), d.tokens.end());
    c.tool_calls += int(o.tool_calls.size());
    return {};
  }
  std::string out;
  Json delta = Json::object();
  if (!o.reasoning.empty()) delta["reasoning_content"] = o.reasoning;
  if (!o.content.empty()) delta["content"] = o.content;
  if (!o.tool_calls.empty()) {
    delta["tool_calls"] = tool_calls_json(o.tool_calls, c.tool_calls, call_prefix_);
    c.tool_calls += int(o.tool_calls.size());
  }
  const bool lp = info_.logprobs && !d.tokens.empty();
  if (!delta.empty() || lp) {
    Json j = chunk_base();
    j["choices"].push_back({{"index", d.index}, {"delta", delta}, {"logprobs", lp ? chat_logprobs(tok_, d.tokens) : Json(nullptr)},
                            {"finish_reason", nullptr}});
    out += sse(j);
  }
  if (d.finish) {
    Json j = chunk_base();
    j["choices"].push_back({{"index", d.index}, {"delta", Json::object()}, {"logprobs", nullptr},
                            {"finish_reason", finish_reason_string(*d.finish, c.tool_calls > 0)}});
    out += sse(j);
  }
  return out;
}

std::string GenerationWriter::add_completion(Choice& c, engine::ChoiceDelta& d) {
  Json lp = nullptr;
  if (info_.logprobs && !d.tokens.empty()) {
    if (info_.stream) lp = completion_logprobs(tok_, d.tokens, c.text_offset);
    else c.tokens.insert(c.tokens.end(), d.tokens.begin(), d.tokens.end());
  }
  if (!info_.stream) {
    c.text += d.text;
    return {};
  }
  if (d.text.empty() && lp.is_null() && !d.finish) return {};
  Json j = chunk_base();
  j["choices"].push_back({{"index", d.index}, {"text", d.text}, {"logprobs", lp},
                          {"finish_reason", d.finish ? Json(finish_reason_string(*d.finish, false)) : Json(nullptr)}});
  return sse(j);
}

std::string GenerationWriter::finish() {
  if (info_.stream) {
    std::string out;
    if (info_.include_usage) {
      Json j = chunk_base();
      j["usage"] = usage();
      out += sse(j);
    }
    return out + "data: [DONE]\n\n";
  }
  Json j = {{"id", info_.id},
            {"object", info_.endpoint == Endpoint::Chat ? "chat.completion" : "text_completion"},
            {"created", info_.created},
            {"model", info_.model},
            {"choices", Json::array()}};
  for (size_t i = 0; i < choices_.size(); ++i) {
    Choice& c = choices_[i];
    if (info_.endpoint == Endpoint::Chat) {
      Json msg = {{"role", "assistant"}, {"content", c.all.content}};
      if (!c.all.reasoning.empty()) msg["reasoning_content"] = c.all.reasoning;
      if (!c.all.tool_calls.empty()) {
        msg["tool_calls"] = tool_calls_json(c.all.tool_calls, 0, call_prefix_);
        if (c.all.content.empty()) msg["content"] = nullptr;
      }
      j["choices"].push_back({{"index", i}, {"message", msg},
                              {"logprobs", info_.logprobs ? chat_logprobs(tok_, c.tokens) : Json(nullptr)},
                              {"finish_reason", finish_reason_string(c.reason, c.tool_calls > 0)}});
    } else {
      int64_t offset = 0;
      j["choices"].push_back({{"index", i}, {"text", c.text},
                              {"logprobs", info_.logprobs ? completion_logprobs(tok_, c.tokens, offset) : Json(nullptr)},
                              {"finish_reason", finish_reason_string(c.reason, false)}});
    }
  }
  j["usage"] = usage();
  return dump(j);
}

}  // namespace qwen3::server
