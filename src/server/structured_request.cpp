#include "server/structured_request.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "core/error.h"
#include "grammar/gbnf_compose.h"
#include "grammar/gbnf_text.h"
#include "grammar/json_schema.h"
#include "grammar/regex.h"

namespace qwen3::server {

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& msg) { throw ApiError(400, msg, param); }

// The converter's errors (unsupported keywords, limits) as 400s naming the field.
template <class F>
std::string convert(const std::string& param, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    bad(param, fmt::format("{}: {}", param, e.what()));
  }
}

std::string schema_grammar(const Json& schema, const std::string& param) {
  if (!schema.is_object() && !schema.is_boolean()) bad(param, fmt::format("{}: the schema must be a JSON object", param));
  return convert(param, [&] { return grammar::json_schema_to_gbnf(schema); });
}

// A tool's `<tool_call>` block: {"name": NAME, "arguments": ARGS} as Qwen3's chat template writes it.
std::string tool_call_grammar(const Json& tools, const std::string* only, bool parallel) {
  std::string rules, alts;
  int index = 0, matched = 0;
  for (const Json& t : tools) {
    const Json& f = t["function"];
    const std::string name = f["name"].get<std::string>();
    const int i = index++;
    if (only && name != *only) continue;
    ++matched;
    std::string args;
    const auto p = f.find("parameters");
    if (p == f.end() || p->is_null() || (p->is_object() && p->empty()))
      args = convert("tools", [] { return grammar::json_object_gbnf(); });
    else
      args = schema_grammar(*p, fmt::format("tools[{}].function.parameters", i));
    const std::string prefix = fmt::format("t{}-", i);
    rules += grammar::prefix_gbnf_rules(args, prefix) + "\n";
    const std::string head = "{\"name\": " + Json(name).dump() + ", \"arguments\": ";
    alts += fmt::format("{}({} {}root)", alts.empty() ? "" : " | ", grammar::gbnf_literal(head), prefix);
  }
  if (only && matched == 0) bad("tool_choice", fmt::format("tool_choice names the function '{}', which is not in 'tools'", *only));
  if (matched == 0) bad("tool_choice", "tool_choice \"required\" needs at least one tool in 'tools'");
  return fmt::format("tc-call ::= \"<tool_call>\\n\" ({}) \"}}\\n</tool_call>\"\ntc-body ::= tc-call{}\n{}", alts,
                     parallel ? " (\"\\n\" tc-call)*" : "", rules);
}

}  // namespace

std::optional<std::string> structured_grammar(const Json& body, const StructuredOptions& o, std::string* param) {
  std::string body_rules, from;  // the constraint's rules, whose start is `x-root` (or tc-body)
  auto take = [&](const char* field, std::string rules) {
    if (!from.empty()) bad(field, fmt::format("'{}' and '{}' cannot be combined: give one constraint", from, field));
    from = field;
    body_rules = std::move(rules);
  };
  auto str = [&](const char* field) -> const Json* {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return nullptr;
    return &*it;
  };
  if (const Json* rf = str("response_format")) {
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string())
      bad("response_format", "'response_format' must be an object with a 'type'");
    const std::string type = (*rf)["type"].get<std::string>();
    if (type == "json_object") {
      take("response_format", grammar::prefix_gbnf_rules(grammar::json_object_gbnf(), "x-"));
    } else if (type == "json_schema") {
      const auto js = rf->find("json_schema");
      if (js == rf->end() || !js->is_object() || !js->contains("schema"))
        bad("response_format", "response_format json_schema needs {\"json_schema\": {\"name\": ..., \"schema\": {...}}}");
      take("response_format", grammar::prefix_gbnf_rules(schema_grammar((*js)["schema"], "response_format.json_schema.schema"), "x-"));
    } else if (type != "text") {
      bad("response_format", fmt::format("response_format type '{}' is not one of text, json_object, json_schema", type));
    }
  }
  if (const Json* g = str("guided_json")) {
    Json schema = *g;
    if (g->is_string()) {
      try {
        schema = Json::parse(g->get<std::string>());
      } catch (const nlohmann::json::exception&) {
        bad("guided_json", "'guided_json' must be a JSON schema (an object, or a string holding one)");
      }
    }
    take("guided_json", grammar::prefix_gbnf_rules(schema_grammar(schema, "guided_json"), "x-"));
  }
  if (const Json* g = str("guided_regex")) {
    if (!g->is_string()) bad("guided_regex", "'guided_regex' must be a string");
    take("guided_regex", grammar::prefix_gbnf_rules(
                             convert("guided_regex", [&] { return grammar::regex_to_gbnf(g->get<std::string>()); }), "x-"));
  }
  if (const Json* g = str("guided_choice")) {
    if (!g->is_array() || g->empty()) bad("guided_choice", "'guided_choice' must be a non-empty array of strings");
    std::vector<std::string> choices;
    for (const Json& c : *g) {
      if (!c.is_string()) bad("guided_choice", "'guided_choice' must be a non-empty array of strings");
      choices.push_back(c.get<std::string>());
    }
    take("guided_choice", grammar::prefix_gbnf_rules(convert("guided_choice", [&] { return grammar::choice_gbnf(choices); }), "x-"));
  }
  if (const Json* g = str("guided_grammar")) {
    if (!g->is_string()) bad("guided_grammar", "'guided_grammar' must be a string (GBNF, docs/grammar.md)");
    take("guided_grammar", convert("guided_grammar", [&] { return grammar::prefix_gbnf_rules(g->get<std::string>(), "x-"); }));
  }
  if (o.chat) {
    if (const Json* tc = str("tool_choice")) {
      bool parallel = true;
      if (auto p = body.find("parallel_tool_calls"); p != body.end() && !p->is_null()) {
        if (!p->is_boolean()) bad("parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
        parallel = p->get<bool>();
      }
      if (tc->is_string() && *tc == "required") {
        if (o.tools.is_null()) bad("tool_choice", "tool_choice \"required\" needs 'tools'");
        take("tool_choice", tool_call_grammar(o.tools, nullptr, parallel));
      } else if (tc->is_object()) {
        const auto f = tc->find("function");
        if (!member_is(*tc, "type", "function") || f == tc->end() || !f->is_object() || !f->contains("name") ||
            !(*f)["name"].is_string())
          bad("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
        if (o.tools.is_null()) bad("tool_choice", "tool_choice names a function but the request has no 'tools'");
        const std::string name = (*f)["name"].get<std::string>();
        take("tool_choice", tool_call_grammar(o.tools, &name, parallel));
      } else if (!(tc->is_string() && (*tc == "auto" || *tc == "none"))) {
        bad("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
      }
    }
  }
  if (from.empty()) return std::nullopt;
  if (param) *param = from;
  const std::string start = from == "tool_choice" ? "tc-body" : "x-root";
  // After a reasoning block Qwen3 writes two newlines before the answer.
  return fmt::format("root ::= {}{}\n{}", o.reasoning ? "[\\n]{0,2} " : "", start, body_rules);
}

GrammarCache::Compiled GrammarCache::get(const std::string& gbnf, const std::string& param) {
  {
    std::lock_guard lk(mu_);
    if (auto it = map_.find(gbnf); it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.compiled;
    }
  }
  Compiled c;
  try {
    c.grammar = grammar::compile_grammar(gbnf, limits_);
  } catch (const Error& e) {
    bad(param, fmt::format("{}: {}", param, e.what()));
  }
  size_t bytes = gbnf.size() + c.grammar->states.size() * sizeof(grammar::CompiledGrammar::State) +
                 c.grammar->byte_edges.size() * sizeof(grammar::CompiledGrammar::ByteEdge) +
                 c.grammar->call_edges.size() * sizeof(grammar::CompiledGrammar::CallEdge);
  if (vocab_) {
    // The masker's entries grow as masks are needed, up to its own bound: that bound is what the
    // cache counts. Precomputing takes at most kPrecompute, here on the request's thread; the
    // entries it leaves are computed on first use (a long maxLength has thousands).
    constexpr std::chrono::milliseconds kPrecompute{300};
    const size_t mask_bytes = std::max<size_t>(max_bytes_ / 16, 1u << 20);
    c.masker = std::make_shared<grammar::TokenMasker>(c.grammar, vocab_, grammar::MaskCacheOptions{.max_bytes = mask_bytes});
    c.masker->precompute_all(kPrecompute);
    bytes += mask_bytes;
  }
  std::lock_guard lk(mu_);
  if (auto it = map_.find(gbnf); it != map_.end()) return it->second.compiled;
  lru_.push_front(gbnf);
  map_.emplace(gbnf, Entry{c, bytes, lru_.begin()});
  bytes_ += bytes;
  while (bytes_ > max_bytes_ && lru_.size() > 1) {
    auto it = map_.find(lru_.back());
    bytes_ -= it->second.bytes;
    map_.erase(it);
    lru_.pop_back();
  }
  return c;
}

size_t GrammarCache::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

size_t GrammarCache::size() const {
  std::lock_guard lk(mu_);
  return map_.size();
}

}  // namespace qwen3::server
