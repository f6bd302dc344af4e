#include "server/openai_api.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/json_file.h"

namespace qwen3::server {

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& msg) { throw ApiError(400, msg, param); }

const Json* find(const Json& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const Json& body, const char* key, double lo, double hi, double dflt) {
  const Json* v = find(body, key);
  if (!v) return dflt;
  if (!v->is_number()) bad(key, fmt::format("'{}' must be a number", key));
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x));
  return x;
}

// An integer, given as a JSON integer or a float with no fractional part (as pydantic accepts).
std::optional<int64_t> integer(const Json& body, const char* key, int64_t lo, int64_t hi) {
  const Json* v = find(body, key);
  if (!v) return std::nullopt;
  int64_t x = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max())) bad(key, fmt::format("'{}' is out of range", key));
    x = int64_t(u);
  } else if (v->is_number_integer()) {
    x = v->get<int64_t>();
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!(std::abs(d) < 9e18) || d != std::floor(d)) bad(key, fmt::format("'{}' must be an integer", key));
    x = int64_t(d);
  } else {
    bad(key, fmt::format("'{}' must be an integer", key));
  }
  if (x < lo || x > hi) bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x));
  return x;
}

bool boolean(const Json& body, const char* key, bool dflt) {
  const Json* v = find(body, key);
  if (!v) return dflt;
  if (!v->is_boolean()) bad(key, fmt::format("'{}' must be a boolean", key));
  return v->get<bool>();
}

}  // namespace

void check_model(const Json& body, const ApiDefaults& d) {
  const Json* m = find(body, "model");
  if (!m) return;
  if (!m->is_string()) bad("model", "'model' must be a string");
  const std::string name = m->get<std::string>();
  if (name != d.model_name)
    throw ApiError(400, fmt::format("The model '{}' does not exist; this server serves '{}'", name, d.model_name),
                   "model", "model_not_found");
}

void parse_distribution(const Json& body, engine::SamplingParams& p) {
  p.temperature = number(body, "temperature", 0, 2, p.temperature);
  p.top_p = number(body, "top_p", 0, 1, p.top_p);
  if (p.top_p <= 0) bad("top_p", "'top_p' must be greater than 0");
  if (auto k = integer(body, "top_k", -1, 1 << 30)) p.top_k = *k < 0 ? 0 : *k;
  p.min_p = number(body, "min_p", 0, 1, p.min_p);
  p.presence_penalty = number(body, "presence_penalty", -2, 2, p.presence_penalty);
  p.frequency_penalty = number(body, "frequency_penalty", -2, 2, p.frequency_penalty);
  p.repetition_penalty = number(body, "repetition_penalty", 0, 10, p.repetition_penalty);
  if (p.repetition_penalty <= 0) bad("repetition_penalty", "'repetition_penalty' must be greater than 0");
  if (auto s = integer(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
    p.seed = uint64_t(*s);
}

namespace {

// The fields chat and completions share.
void parse_sampling(const Json& body, engine::SamplingParams& p, std::optional<int64_t>& max_tokens, bool& stream,
                    bool& include_usage) {
  parse_distribution(body, p);
  if (auto n = integer(body, "n", 1, 16)) p.n = int(*n);
  max_tokens = integer(body, "max_tokens", 1, std::numeric_limits<int64_t>::max());
  if (auto m = integer(body, "max_completion_tokens", 1, std::numeric_limits<int64_t>::max())) max_tokens = m;
  if (const Json* s = find(body, "stop")) {
    std::vector<std::string> stops;
    if (s->is_string()) stops.push_back(s->get<std::string>());
    else if (s->is_array() && s->size() <= 16) {
      for (auto& x : *s) {
        if (!x.is_string()) bad("stop", "'stop' must be a string or an array of strings");
        stops.push_back(x.get<std::string>());
      }
    } else bad("stop", "'stop' must be a string or an array of at most 16 strings");
    for (auto& x : stops)
      if (x.empty() || x.size() > 1024) bad("stop", "stop strings must have 1 to 1024 bytes");
    p.stop = std::move(stops);
  }
  if (const Json* s = find(body, "stop_token_ids")) {
    if (!s->is_array() || s->size() > 64) bad("stop_token_ids", "'stop_token_ids' must be an array of at most 64 token ids");
    for (auto& x : *s) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > std::numeric_limits<int32_t>::max())
        bad("stop_token_ids", "'stop_token_ids' must hold token ids");
      p.stop_token_ids.push_back(int32_t(x.get<int64_t>()));
    }
  }
  p.ignore_eos = boolean(body, "ignore_eos", false);
  if (const Json* b = find(body, "logit_bias")) {
    if (!b->is_object() || b->size() > 1024) bad("logit_bias", "'logit_bias' must be an object of at most 1024 entries");
    for (auto& [k, v] : b->items()) {
      char* end = nullptr;
      const long long id = std::strtoll(k.c_str(), &end, 10);
      if (k.empty() || *end || id < 0 || id > std::numeric_limits<int32_t>::max())
        bad("logit_bias", fmt::format("logit_bias: '{}' is not a token id", k));
      if (!v.is_number() || !(v.get<double>() >= -100 && v.get<double>() <= 100))
        bad("logit_bias", "logit_bias values must be numbers between -100 and 100");
      p.logit_bias.push_back({int32_t(id), float(v.get<double>())});
    }
  }
  stream = boolean(body, "stream", false);
  if (const Json* so = find(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
    include_usage = boolean(*so, "include_usage", false);
  }
  // response_format and the guided_* fields: server/structured_request.cpp.
}

std::string message_content(const Json& content, size_t i) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {
    std::string text;
    for (auto& part : content) {
      if (!member_is(part, "type", "text") || !part.contains("text") || !part["text"].is_string())
        bad("messages", fmt::format("messages[{}]: only text content parts are supported", i));
      text += part["text"].get<std::string>();
    }
    return text;
  }
  bad("messages", fmt::format("messages[{}].content must be a string or an array of text parts", i));
}

}  // namespace

bool member_is(const Json& obj, const char* key, std::string_view want) {
  if (!obj.is_object()) return false;
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() && it->get_ref<const std::string&>() == want;
}

ApiError::ApiError(int status, std::string message, std::string param, std::string code)
    : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)), code_(std::move(code)) {}

const char* ApiError::type_for(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "invalid_request_error";
    case 503: return "server_overloaded";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

Json ApiError::to_json() const {
  Json e = {{"message", what()}, {"type", type_for(status_)}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) e["param"] = param_;
  if (!code_.empty()) e["code"] = code_;
  return {{"error", e}};
}

Json parse_body(std::string_view body, int max_depth) {
  if (json_nested_deeper_than(body, max_depth))
    bad("", fmt::format("the JSON body is nested deeper than {} levels", max_depth));
  Json j;
  try {
    j = Json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    bad("", fmt::format("the body is not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) bad("", "the body must be a JSON object");
  return j;
}

ChatRequest parse_chat_request(const Json& body, const ApiDefaults& d) {
  ChatRequest r;
  r.params = d.sampling;
  check_model(body, d);
  const Json* msgs = find(body, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty()) bad("messages", "'messages' must be a non-empty array");
  r.messages = Json::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const Json& m = (*msgs)[i];
    if (!m.is_object()) bad("messages", fmt::format("messages[{}] must be an object", i));
    const Json* role = find(m, "role");
    static const char* roles[] = {"system", "developer", "user", "assistant", "tool"};
    if (!role || !role->is_string() ||
        std::none_of(std::begin(roles), std::end(roles), [&](const char* x) { return *role == x; }))
      bad("messages", fmt::format("messages[{}].role must be system, developer, user, assistant or tool", i));
    Json out = m;
    if (*role == "developer") out["role"] = "system";
    const Json* content = find(m, "content");
    if (content) out["content"] = message_content(*content, i);
    else if (*role == "assistant") out["content"] = "";
    else bad("messages", fmt::format("messages[{}].content is missing", i));
    r.messages.push_back(std::move(out));
  }
  if (const Json* t = find(body, "tools")) {
    if (!t->is_array()) bad("tools", "'tools' must be an array");
    for (auto& tool : *t)
      if (!member_is(tool, "type", "function") || !tool.contains("function") ||
          !tool["function"].is_object() || !tool["function"].contains("name") || !tool["function"]["name"].is_string())
        bad("tools", "each tool must be {\"type\": \"function\", \"function\": {\"name\": ..., ...}}");
    if (!t->empty()) r.tools = *t;
  }
  // "required" and a named function are constraints (server/structured_request.cpp).
  if (const Json* tc = find(body, "tool_choice"); tc && *tc == "none") r.tools = nullptr;
  if (const Json* k = find(body, "chat_template_kwargs")) {
    if (!k->is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    r.template_kwargs = *k;
    if (k->contains("enable_thinking")) {
      if (!(*k)["enable_thinking"].is_boolean()) bad("chat_template_kwargs", "enable_thinking must be a boolean");
      r.enable_thinking = (*k)["enable_thinking"].get<bool>();
      r.template_kwargs.erase("enable_thinking");
    }
  }
  parse_sampling(body, r.params, r.max_tokens, r.stream, r.include_usage);
  r.params.logprobs = boolean(body, "logprobs", false);
  if (auto k = integer(body, "top_logprobs", 0, 20)) {
    if (!r.params.logprobs && *k > 0) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    r.params.top_logprobs = int(*k);
  }
  return r;
}

CompletionRequest parse_completion_request(const Json& body, const ApiDefaults& d) {
  CompletionRequest r;
  r.params = d.sampling;
  check_model(body, d);
  const Json* p = find(body, "prompt");
  if (!p) bad("prompt", "'prompt' is required");
  const Json* one = p;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) one = &(*p)[0];
  if (one->is_string()) {
    r.prompt_text = one->get<std::string>();
  } else if (one->is_array() && !one->empty() && std::all_of(one->begin(), one->end(), [](const Json& x) { return x.is_number_integer(); })) {
    for (auto& x : *one) {
      const int64_t id = x.get<int64_t>();
      if (id < 0 || id > std::numeric_limits<int32_t>::max()) bad("prompt", fmt::format("token id {} is out of range", id));
      r.prompt_ids.push_back(int32_t(id));
    }
  } else {
    bad("prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
  }
  if (boolean(body, "echo", false)) bad("echo", "'echo' is not supported");
  if (const Json* s = find(body, "suffix"); s && !(s->is_string() && s->get<std::string>().empty()))
    bad("suffix", "'suffix' is not supported");
  parse_sampling(body, r.params, r.max_tokens, r.stream, r.include_usage);
  if (auto b = integer(body, "best_of", 1, 16); b && *b != r.params.n) bad("best_of", "'best_of' other than n is not supported");
  if (auto k = integer(body, "logprobs", 0, 20)) {
    r.params.logprobs = true;
    r.params.top_logprobs = int(*k);
  }
  return r;
}

namespace {
std::string token_text(const Tokenizer& tok, int32_t id) {
  if (!tok.contains(id)) return {};
  return tok.decode(std::span<const int32_t>(&id, 1));  // lossy for a partial character, like HF
}
Json token_bytes(const Tokenizer& tok, int32_t id) {
  Json b = Json::array();
  if (tok.contains(id))
    for (unsigned char c : tok.token_bytes(id)) b.push_back(int(c));
  return b;
}
}  // namespace

Json chat_logprobs(const Tokenizer& tok, const std::vector<engine::TokenInfo>& tokens) {
  Json content = Json::array();
  for (auto& t : tokens) {
    Json top = Json::array();
    for (auto& a : t.top)
      top.push_back({{"token", token_text(tok, a.token)}, {"logprob", a.logprob}, {"bytes", token_bytes(tok, a.token)}});
    content.push_back({{"token", token_text(tok, t.token)}, {"logprob", t.logprob}, {"bytes", token_bytes(tok, t.token)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}};
}

Json completion_logprobs(const Tokenizer& tok, const std::vector<engine::TokenInfo>& tokens, int64_t& offset) {
  Json toks = Json::array(), lps = Json::array(), tops = Json::array(), offs = Json::array();
  for (auto& t : tokens) {
    const std::string s = token_text(tok, t.token);
    toks.push_back(s);
    lps.push_back(t.logprob);
    Json top = Json::object();
    for (auto& a : t.top) top[token_text(tok, a.token)] = a.logprob;
    tops.push_back(top);
    offs.push_back(offset);
    offset += int64_t(s.size());
  }
  return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

Json tool_calls_json(const std::vector<ToolCall>& calls, int first_index, const std::string& id_prefix) {
  Json out = Json::array();
  for (size_t i = 0; i < calls.size(); ++i)
    out.push_back({{"index", first_index + int(i)},
                   {"id", fmt::format("{}{}", id_prefix, first_index + int(i))},
                   {"type", "function"},
                   {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}});
  return out;
}

const char* finish_reason_string(engine::FinishReason r, bool has_tool_calls) {
  switch (r) {
    case engine::FinishReason::Stop: return has_tool_calls ? "tool_calls" : "stop";
    case engine::FinishReason::Length: return "length";
    default: return "abort";
  }
}

std::string random_id(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), uint32_t(rng()));
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace qwen3::server
