// qwen3 generate: continuation of token ids (--ids), raw text (--prompt) or one user turn through
// the checkpoint's chat template (--chat), streamed as it is generated, with the speed. Sampled as
// generation_config.json says unless the sampling flags say otherwise (tools/sampling_flags.h;
// --temperature 0 is greedy). With --spec (tools/spec_flags.h) generation runs through the engine
// core with a proposer: greedy, the same ids, finish reason and text, and --format json adds
// "spec" with the counts.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "chat/output_parser.h"
#include "core/file_io.h"
#include "core/parallel_for.h"
#include "engine/token_vocabulary.h"
#include "grammar/grammar.h"
#include "server/structured_request.h"
#include "model/qwen3_model.h"
#include "tokenizer/tokenizer.h"
#include "tools/chat_session.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/generation.h"
#include "tools/model_flags.h"
#include "tools/sampling_flags.h"
#include "tools/spec_flags.h"

namespace qwen3::tools {
namespace {

struct Opts {
  ModelFlags m;
  SpecFlags spec;
  SamplingFlags sampling;
  std::string ids, prompt, chat, system, format = "text", json_schema, grammar;
  int max_tokens = 16;
  bool ignore_eos = false, no_think = false;
};

// --json-schema FILE / --grammar FILE as the server reads response_format and guided_grammar
// (server/structured_request.h); with --chat, reasoning (<think> ... </think>) stays free.
std::shared_ptr<const engine::Constraint> file_constraint(const Opts& o, const Tokenizer& tok,
                                                          std::span<const int32_t> prompt) {
  nlohmann::ordered_json body;
  const bool schema = !o.json_schema.empty();
  const std::string path = schema ? o.json_schema : o.grammar;
  const std::string text = read_file(path);
  if (schema) {
    nlohmann::ordered_json js;
    try {
      js = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail("--json-schema {}: not JSON: {}", path, e.what());
    }
    body["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "schema"}, {"schema", js}}}};
  } else {
    body["guided_grammar"] = text;
  }
  const auto open = tok.token_to_id("<think>"), close = tok.token_to_id("</think>");
  const bool reasoning = !o.chat.empty() && open && close;
  engine::Constraint c;
  try {
    std::string param;
    const auto gbnf = server::structured_grammar(body, server::StructuredOptions{.chat = false, .reasoning = reasoning, .tools = nullptr}, &param);
    c.grammar = grammar::compile_grammar(*gbnf);
  } catch (const std::exception& e) {
    fail("{} {}: {}", schema ? "--json-schema" : "--grammar", path, e.what());
  }
  if (reasoning) {
    c.reasoning_open = *open, c.reasoning_close = *close;
    const std::string text_prompt = tok.decode(prompt);
    c.in_reasoning = prompt_opens_reasoning(text_prompt);
  }
  return std::make_shared<const engine::Constraint>(std::move(c));
}

int run(const Opts& o) {
  if (o.format != "text" && o.format != "json") fail("--format: '{}' is not text or json", o.format);
  if (o.max_tokens < 0) fail("--max-tokens: must be >= 0, got {}", o.max_tokens);
  const int inputs = int(!o.ids.empty()) + int(!o.prompt.empty()) + int(!o.chat.empty());
  if (inputs != 1) fail("give exactly one of --ids, --prompt and --chat");
  const bool speculate = spec_mode(o.spec) != SpecMode::Off;
  const bool constrained = !o.json_schema.empty() || !o.grammar.empty();
  if (!o.json_schema.empty() && !o.grammar.empty()) fail("give one of --json-schema and --grammar");
  if (!o.system.empty() && o.chat.empty()) fail("--system: goes with --chat");
  const std::filesystem::path dir = o.m.model;
  const engine::SamplingParams sampling = sampling_params(o.sampling, dir);

  using clock = std::chrono::steady_clock;
  const auto t_load = clock::now();
  auto model = load_model(o.m);
  std::unique_ptr<Tokenizer> tok;
  std::vector<int32_t> prompt;
  if (!o.ids.empty()) {
    prompt = parse_ids(o.ids);
  } else {
    tok = std::make_unique<Tokenizer>(Tokenizer::load(dir / "tokenizer.json"));
    if (!o.prompt.empty()) {
      prompt = tok->encode(o.prompt);
    } else {
      ChatTemplateRenderer renderer(dir);
      nlohmann::ordered_json messages = nlohmann::ordered_json::array();
      if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
      messages.push_back({{"role", "user"}, {"content", o.chat}});
      prompt = tok->encode(renderer.render(messages, /*add_generation_prompt=*/true, /*enable_thinking=*/!o.no_think));
    }
    if (prompt.empty()) fail("the prompt encodes to no tokens");
  }
  if (constrained && !tok) tok = std::make_unique<Tokenizer>(Tokenizer::load(dir / "tokenizer.json"));
  const double load_s = std::chrono::duration<double>(clock::now() - t_load).count();

  std::unique_ptr<StreamingDetokenizer> detok;
  if (tok && o.format == "text") detok = std::make_unique<StreamingDetokenizer>(*tok);
  auto on_token = [&](int32_t id) {
    if (detok && tok->contains(id)) {  // ids past the tokenizer's vocabulary have no text (HF drops them)
      std::string s = detok->push(id);
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  // Room for the prompt and the reply, but never past the model's positions.
  const int64_t tokens = std::min<int64_t>(int64_t(prompt.size()) + o.max_tokens, model->config().max_context());
  GenerationResult r;
  nlohmann::json spec_json;
  if (speculate || constrained) {
    engine::CoreOptions co =
        single_sequence_core_options(tokens, o.spec.k, kv_dtype(o.m), end_of_sequence_ids(dir, model->config()));
    co.spec = draft_length_options(o.spec);
    std::shared_ptr<const engine::Constraint> constraint;
    if (constrained) {
      co.vocabulary = engine::make_token_vocabulary(*tok, co.eos_token_ids);
      constraint = file_constraint(o, *tok, prompt);
    }
    auto proposer = make_proposer(o.spec, o.m, *model, tok.get(), co.kv_pages, co.page_size, co.kv_dtype);
    engine::EngineCore core(*model, co, std::move(proposer));
    engine::SamplingParams sp = sampling;
    sp.max_tokens = o.max_tokens;
    sp.ignore_eos = o.ignore_eos;
    sp.constraint = constraint;
    r = generate_with_core(core, 1, prompt, std::move(sp), on_token);
    const engine::CoreStats& st = core.stats();
    if (speculate)
      spec_json = {{"proposer", core.proposer()->name()},
                 {"k", o.spec.k},
                 {"drafted", st.spec_drafted},
                 {"accepted", st.spec_accepted},
                 {"acceptance_rate", st.spec_drafted ? double(st.spec_accepted) / double(st.spec_drafted) : 0.0},
                 {"verify_steps", st.spec_verify_steps},
                 {"tokens_per_verify",
                  st.spec_verify_steps ? double(st.spec_emitted) / double(st.spec_verify_steps) : 0.0}};
  } else {
    GenerationParams params;
    params.max_tokens = o.max_tokens;
    params.sampling = sampling;
    if (!o.ignore_eos) params.stop_ids = end_of_sequence_ids(dir, model->config());
    const int64_t page = 16;
    KvCache kv(model->kv_options((tokens + page - 1) / page + 1, int(page), kv_dtype(o.m)));
    kv.add_sequence(0);
    r = generate_tokens(*model, kv, 0, prompt, params, on_token);
  }
  if (o.format == "json") {
    nlohmann::json j = {{"ids", r.ids},
                        {"finish_reason", r.finish_reason},
                        {"prompt_tokens", r.prompt_tokens},
                        {"load_seconds", load_s},
                        {"prefill_tokens_per_second", r.prefill_tokens_per_second()},
                        {"decode_tokens_per_second", r.decode_tokens_per_second()},
                        {"threads", num_threads()},
                        {"peak_rss_bytes", peak_rss_bytes()}};
    if (speculate && !spec_json.is_null()) j["spec"] = spec_json;
    if (tok) {
      std::vector<int32_t> known;
      for (int32_t id : r.ids)
        if (tok->contains(id)) known.push_back(id);
      j["text"] = tok->decode(known);
    }
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    if (detok) {
      std::string s = detok->flush();
      std::fwrite(s.data(), 1, s.size(), stdout);
    } else {
      for (size_t i = 0; i < r.ids.size(); ++i) std::printf("%s%d", i ? "," : "", r.ids[i]);
    }
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr,
                 "prompt %lld tokens, generated %zu (%s) | load %.2f s | prefill %.1f tok/s | decode %.2f tok/s | "
                 "%d threads | peak RSS %.0f MiB\n",
                 (long long)r.prompt_tokens, r.ids.size(), r.finish_reason.c_str(), load_s,
                 r.prefill_tokens_per_second(), r.decode_tokens_per_second(), num_threads(),
                 double(peak_rss_bytes()) / (1 << 20));
    if (speculate && !spec_json.is_null())
      std::fprintf(stderr, "spec %s, k %d | drafted %s, accepted %s (%.0f%%) | %.2f tokens per verify step\n",
                   spec_json["proposer"].get<std::string>().c_str(), o.spec.k, spec_json["drafted"].dump().c_str(),
                   spec_json["accepted"].dump().c_str(), 100 * spec_json["acceptance_rate"].get<double>(),
                   spec_json["tokens_per_verify"].get<double>());
  }
  return 0;
}

const bool registered = register_command(
    "generate", "Generation from token ids, raw text or one chat turn, with the speed", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      add_model_flags(app, o->m);
      app.add_option("--ids", o->ids, "comma-separated prompt token ids");
      app.add_option("--prompt", o->prompt, "raw prompt text");
      app.add_option("--chat", o->chat, "one user message, rendered with the model's chat template");
      app.add_flag("--no-think", o->no_think, "with --chat: render with enable_thinking=false");
      app.add_option("--system", o->system, "with --chat: a system message before the user's");
      app.add_option("--max-tokens", o->max_tokens, "tokens to generate")->capture_default_str();
      app.add_option("--format", o->format, "text | json")->capture_default_str();
      app.add_flag("--ignore-eos", o->ignore_eos, "keep generating after an end-of-sequence token");
      app.add_option("--json-schema", o->json_schema, "FILE: the output must be JSON valid for this JSON Schema (docs/structured-output.md)");
      app.add_option("--grammar", o->grammar, "FILE: the output must follow this GBNF grammar (docs/grammar.md)");
      add_sampling_flags(app, o->sampling);
      add_spec_flags(app, o->spec);
      set_examples(app, {"qwen3 generate --model DIR --chat \"Why is the sky blue?\"",
                         "qwen3 generate --model DIR --prompt \"Once upon a time\" --max-tokens 64",
                         "qwen3 generate --model DIR --ids 151644,872,198 --max-tokens 32 --format json",
                         "qwen3 generate --model DIR --quant q8 --spec ngram --chat \"Hi\""});
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
