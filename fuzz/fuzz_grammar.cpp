// Structured output: a constraint from a request, compiled and followed token by token, as the
// server does it. Input: one byte of options, the constraint up to the first NUL byte, then the
// bytes that pick the tokens to follow.
//
// Options: bits 0-1 what the constraint is: 0 GBNF text (compile_grammar), 1 a JSON schema
// (json_schema_to_gbnf; bit 2 flexible whitespace, bit 3 unknown formats ignored), 2 a regex
// (regex_to_gbnf), 3 an OpenAI request body (parse_body, parse_chat_request or, with bit 4,
// parse_completion_request, then structured_grammar: response_format, guided_*, tool_choice; bit 5
// the reasoning prefix). The grammar is compiled with the server's limits and a TokenMasker over a
// small vocabulary (the 256 bytes, some multi-byte tokens, a partial UTF-8 character, a special
// token and an end token) precomputes its masks for a few milliseconds, as GrammarCache does.
//
// Then up to 48 steps, each reading one byte: the byte names a token (or, bytes 0xF8-0xFF, a
// rollback of 1-8 steps). Checked at every step: the mask says of every token of the vocabulary
// what a copy of the matcher's accept_token does with it (the engine samples from the mask and
// then feeds the token to the matcher); a token the mask allows is accepted; a rollback restores
// the stack set of that earlier step. At the end, the bytes of the accepted tokens fed to a new
// matcher in one call are accepted, and it can end exactly when the stepped one could.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/regex.h"
#include "grammar/token_mask.h"
#include "server/openai_api.h"
#include "server/structured_request.h"

namespace grammar = qwen3::grammar;
namespace server = qwen3::server;

namespace {

constexpr int kSteps = 48;

std::shared_ptr<const grammar::TokenVocabulary> vocabulary() {
  static const auto v = [] {
    std::vector<std::string> bytes;
    for (int b = 0; b < 256; ++b) bytes.emplace_back(1, char(b));
    for (const char* s : {"{\"", "\":", "\",\"", "true", "false", "null", "\\u00", "\\\"", "  ", "\n\n", "abc", "12",
                          "-0.5e+3", "caf\xc3\xa9", "\xe4\xb8", "\xad\xe6\x96\x87", "\xf0\x9f\x98\x80", "]}",
                          "<tool_call>\n", "\n</tool_call>", "yes", "no"})
      bytes.emplace_back(s);
    bytes.emplace_back("<|special|>");
    bytes.emplace_back("<|im_end|>");
    const int32_t n = int32_t(bytes.size());
    const std::vector<int32_t> special{n - 2, n - 1}, end{n - 1};
    return std::make_shared<const grammar::TokenVocabulary>(std::move(bytes), special, end);
  }();
  return v;
}

[[noreturn]] void fail(const char* what, int step, int32_t id) {
  std::fprintf(stderr, "fuzz_grammar: %s (step %d, token %d)\n", what, step, id);
  std::abort();
}

// The GBNF of the constraint, or nullopt when the input asks for none (or is not one).
std::optional<std::string> constraint_gbnf(uint8_t opts, std::string_view spec) {
  switch (opts & 3) {
    case 0:
      return std::string(spec);
    case 1: {
      const auto schema = nlohmann::ordered_json::parse(spec, nullptr, false);
      if (schema.is_discarded()) return std::nullopt;
      grammar::JsonSchemaOptions o;
      if (opts & 4) o.whitespace = grammar::Whitespace::Flexible;
      if (opts & 8) o.unknown_format = grammar::UnknownFormat::Ignore;
      return grammar::json_schema_to_gbnf(schema, o);
    }
    case 2:
      return grammar::regex_to_gbnf(spec);
    default: {
      static const server::ApiDefaults defaults{.sampling = {}, .model_name = "qwen3-fuzz"};
      const server::Json body = server::parse_body(spec);
      std::string param;
      if (opts & 16) {
        (void)server::parse_completion_request(body, defaults);
        return server::structured_grammar(body, {.chat = false, .reasoning = false, .tools = nullptr}, &param);
      }
      const server::ChatRequest r = server::parse_chat_request(body, defaults);
      return server::structured_grammar(body, {.chat = true, .reasoning = (opts & 32) != 0, .tools = r.tools}, &param);
    }
  }
}

bool allowed(const std::vector<uint32_t>& mask, int32_t id) { return (mask[size_t(id) / 32] >> (id % 32)) & 1; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t opts = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nul = rest.find('\0');
  const std::string_view spec = rest.substr(0, nul);
  const std::string_view picks = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);

  const auto vocab = vocabulary();
  std::shared_ptr<const grammar::CompiledGrammar> g;
  std::unique_ptr<grammar::TokenMasker> masker;
  try {
    const std::optional<std::string> gbnf = constraint_gbnf(opts, spec);
    if (!gbnf) return 0;
    g = grammar::compile_grammar(*gbnf);
    masker = std::make_unique<grammar::TokenMasker>(g, vocab, grammar::MaskCacheOptions{.max_bytes = 1u << 20});
    masker->precompute_all(std::chrono::milliseconds(5));
  } catch (const qwen3::Error&) {
    return 0;
  } catch (const server::ApiError&) {
    return 0;
  }

  const int32_t n = int32_t(vocab->size());
  grammar::Matcher m(g, vocab);
  std::vector<uint32_t> mask(vocab->mask_words());
  std::vector<uint32_t> sets{m.current_set()};  // before each step still recorded
  std::vector<std::string> texts{""};           // the accepted bytes after each step
  for (int step = 0; step < kSteps && size_t(step) < picks.size(); ++step) {
    const uint8_t b = uint8_t(picks[size_t(step)]);
    if (b >= 0xF8) {
      const size_t k = std::min<size_t>(b - 0xF7, m.num_steps());
      m.rollback(k);
      sets.resize(sets.size() - k);
      texts.resize(texts.size() - k);
      if (m.current_set() != sets.back()) fail("rollback did not restore the stack set", step, -1);
      continue;
    }
    masker->fill_mask(m, mask.data());
    for (int32_t id = 0; id < n; ++id) {
      grammar::Matcher c = m;
      if (c.accept_token(id) != allowed(mask, id))
        fail(allowed(mask, id) ? "the mask allows a token the matcher rejects" : "the mask forbids a token the matcher accepts",
             step, id);
    }
    // Bytes below 0xE0 are themselves; the rest name the multi-byte, special and end tokens.
    const int32_t id = b < 0xE0 ? int32_t(b) : 256 + int32_t(b - 0xE0) % (n - 256);
    if (!allowed(mask, id)) continue;
    if (!m.accept_token(id)) fail("an allowed token was not accepted", step, id);
    sets.push_back(m.current_set());
    texts.push_back(texts.back() + (vocab->is_special(id) ? std::string() : std::string(vocab->bytes(id))));
    if (m.is_terminated()) break;
  }
  if (!m.is_terminated() && !texts.back().empty()) {
    grammar::Matcher whole(g, vocab);
    if (!whole.accept_bytes(texts.back())) fail("the accepted text, fed at once, is rejected", kSteps, -1);
    if (whole.can_end() != m.can_end())
      fail("can_end differs between the text fed at once and token by token", kSteps, -1);
  }
  return 0;
}
