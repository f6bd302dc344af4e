// qwen3 chat: interactive multi-turn chat with streaming output. Commands: /think, /no_think,
// /reset, /exit. The reasoning (before </think>) is shown apart from the answer.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/parallel_for.h"
#include "tools/chat_session.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/model_flags.h"
#include "tools/spec_flags.h"

namespace qwen3::tools {
namespace {

struct Opts {
  ModelFlags m;
  SpecFlags spec;
  int max_tokens = 1024;
  int64_t ctx = 8192;
  bool no_think = false, stats = false;
};

void out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

int run(const Opts& o) {
  const bool speculate = spec_mode(o.spec) != SpecMode::Off;
  const std::filesystem::path dir = o.m.model;
  auto model = load_model(o.m);
  const Tokenizer tok = Tokenizer::load(dir / "tokenizer.json");
  const ChatTemplateRenderer renderer(dir);
  ChatSession::Options so;
  so.context_tokens = std::min<int64_t>(o.ctx, model->config().max_position_embeddings);
  so.kv_dtype = kv_dtype(o.m);
  so.max_tokens = o.max_tokens;
  so.spec = draft_length_options(o.spec);
  std::unique_ptr<engine::Proposer> proposer;
  if (speculate) {
    // The draft's cache matches the session's (single_sequence_core_options).
    const int64_t pages = (so.context_tokens + o.spec.k + 15) / 16 + 1;
    proposer = make_proposer(o.spec, o.m, *model, &tok, pages, 16, so.kv_dtype);
    std::fprintf(stderr, "qwen3 chat: speculative decoding: %s\n", describe_spec(o.spec).c_str());
  }
  ChatSession session(*model, tok, renderer, end_of_sequence_ids(dir, model->config()), so, std::move(proposer));

  const bool tty = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  const char* dim = tty ? "\x1b[2m" : "";
  const char* reset = tty ? "\x1b[0m" : "";
  bool thinking = !o.no_think;
  if (tty) out("qwen3 chat: /think, /no_think, /reset, /exit\n");
  std::string line;
  for (;;) {
    if (tty) out("> ");
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/think" || line == "/no_think") {
      thinking = line == "/think";
      out(thinking ? "[thinking on]\n" : "[thinking off]\n");
      continue;
    }
    if (line == "/reset") {
      session.reset();
      out("[conversation cleared]\n");
      continue;
    }
    bool in_reasoning = false;
    ChatTurn turn;
    try {
      turn = session.reply(
          line, thinking,
          [&](const std::string& s) {
            if (!in_reasoning) out(std::string(dim) + "[thinking]\n"), in_reasoning = true;
            out(s);
          },
          [&](const std::string& s) {
            if (in_reasoning) out(std::string(reset) + "\n[answer]\n"), in_reasoning = false;
            out(s);
          });
    } catch (const KvCacheFull& e) {
      out(std::string(reset) + "\n");
      std::fprintf(stderr, "qwen3: the conversation no longer fits in the context (%s); /reset to start over\n", e.what());
      continue;
    }
    out(std::string(reset) + "\n");
    if (o.stats)
      std::fprintf(stderr, "[%lld prompt tokens (%lld reused), %zu generated (%s), prefill %.1f tok/s, decode %.2f tok/s]\n",
                   (long long)turn.stats.prompt_tokens, (long long)turn.reused_tokens, turn.stats.ids.size(),
                   turn.stats.finish_reason.c_str(), turn.stats.prefill_tokens_per_second(),
                   turn.stats.decode_tokens_per_second());
    if (o.stats && session.core()) {
      const engine::CoreStats& st = session.core()->stats();
      std::fprintf(stderr, "[spec %s: %llu drafted, %llu accepted, %.2f tokens per verify step, session total]\n",
                   session.core()->proposer()->name().c_str(), (unsigned long long)st.spec_drafted,
                   (unsigned long long)st.spec_accepted,
                   st.spec_verify_steps ? double(st.spec_emitted) / double(st.spec_verify_steps) : 0.0);
    }
  }
  return 0;
}

const bool registered = register_command("chat", "Interactive multi-turn chat with streaming output", [](CLI::App& app) {
  auto o = std::make_shared<Opts>();
  add_model_flags(app, o->m);
  app.add_option("--max-tokens", o->max_tokens, "tokens per reply")->capture_default_str();
  app.add_option("--ctx-size", o->ctx, "context (KV cache) size in tokens")->capture_default_str();
  app.add_flag("--no-think", o->no_think, "start with thinking off (enable_thinking=false)");
  app.add_flag("--stats", o->stats, "print token counts and speed after each reply");
  add_spec_flags(app, o->spec);
  set_examples(app, {"qwen3 chat --model DIR", "qwen3 chat --model DIR --quant q8 --no-think --stats",
                     "echo \"Hello!\" | qwen3 chat --model DIR --max-tokens 48"});
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace qwen3::tools
