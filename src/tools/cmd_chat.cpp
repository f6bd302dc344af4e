// qwen3 chat: interactive multi-turn chat with streaming output. Commands: /think, /no_think,
// /reset, /save FILE, /load FILE, /exit. The reasoning (before </think>) is shown apart from the
// answer. Ctrl-C stops the reply being written (the conversation keeps what was said); Ctrl-C at
// the prompt ends the session.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/file_io.h"
#include "core/parallel_for.h"
#include "server/openai_api.h"
#include "tools/chat_session.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/line_reader.h"
#include "tools/model_flags.h"
#include "tools/sampling_flags.h"
#include "tools/spec_flags.h"

namespace qwen3::tools {
namespace {

struct Opts {
  ModelFlags m;
  SpecFlags spec;
  SamplingFlags sampling;
  std::string system;
  int max_tokens = 1024;
  int64_t ctx = 8192;
  bool no_think = false, stats = false;
};

std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted.store(true); }

// SIGINT sets g_interrupted. Without SA_RESTART a read waiting at the prompt returns (EINTR), which
// is how Ctrl-C there ends the session.
void catch_sigint() {
  struct sigaction sa = {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
}

void out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// /save FILE: the conversation as JSON, OpenAI's messages array.
void save(const ChatSession& session, const std::string& path) {
  write_file(path, session.messages().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  out("[saved " + std::to_string(session.messages().size()) + " messages to " + path + "]\n");
}

// /load FILE: a messages array (or an object holding one under "messages", as a request body),
// checked as the server checks a request's messages and rendered once with the template before it
// replaces the conversation.
void load(ChatSession& session, const ChatTemplateRenderer& renderer, const std::string& path, bool thinking) {
  server::Json j;
  try {
    j = server::Json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("/load {}: not JSON: {}", path, e.what());
  }
  if (j.is_object() && j.contains("messages")) j = j["messages"];
  if (!j.is_array()) fail("/load {}: expected an array of messages (OpenAI's shape)", path);
  server::Json messages = server::Json::array();
  if (!j.empty()) {
    try {
      messages = server::parse_chat_request(server::Json{{"messages", j}}, server::ApiDefaults{}).messages;
    } catch (const server::ApiError& e) {
      fail("/load {}: {}", path, e.what());
    }
    try {
      renderer.render(messages, /*add_generation_prompt=*/true, thinking);
    } catch (const std::exception& e) {
      fail("/load {}: the chat template cannot render these messages: {}", path, e.what());
    }
  }
  session.set_messages(std::move(messages));
  out("[loaded " + std::to_string(session.messages().size()) + " messages from " + path + "]\n");
}

// One slash command; false when `line` is not one.
bool command(const std::string& line, ChatSession& session, const ChatTemplateRenderer& renderer, bool& thinking) {
  auto arg = [&](size_t n) {
    std::string a = line.size() > n ? line.substr(n) : "";
    a.erase(0, a.find_first_not_of(' '));
    if (a.empty()) fail("{} needs a file name", line.substr(0, n));
    return a;
  };
  if (line == "/think" || line == "/no_think") {
    thinking = line == "/think";
    out(thinking ? "[thinking on]\n" : "[thinking off]\n");
  } else if (line == "/reset") {
    session.reset();
    out("[conversation cleared]\n");
  } else if (line == "/save" || line.starts_with("/save ")) {
    save(session, arg(5));
  } else if (line == "/load" || line.starts_with("/load ")) {
    load(session, renderer, arg(5), thinking);
  } else {
    return false;
  }
  return true;
}

int run(const Opts& o) {
  const bool speculate = spec_mode(o.spec) != SpecMode::Off;
  const std::filesystem::path dir = o.m.model;
  if (o.max_tokens < 1) fail("--max-tokens: must be >= 1, got {}", o.max_tokens);
  ChatSession::Options so;
  so.sampling = sampling_params(o.sampling, dir);  // before the (long) load: a bad flag fails at once
  auto model = load_model(o.m);
  const Tokenizer tok = Tokenizer::load(dir / "tokenizer.json");
  const ChatTemplateRenderer renderer(dir);
  so.context_tokens = std::min<int64_t>(o.ctx, model->config().max_context());
  so.kv_dtype = kv_dtype(o.m);
  so.max_tokens = o.max_tokens;
  so.spec = draft_length_options(o.spec);
  so.system = o.system;
  so.interrupt = &g_interrupted;
  std::unique_ptr<engine::Proposer> proposer;
  if (speculate) {
    // The draft's cache matches the session's (single_sequence_core_options).
    const int64_t pages = (so.context_tokens + o.spec.k + 15) / 16 + 1;
    proposer = make_proposer(o.spec, o.m, *model, &tok, pages, 16, so.kv_dtype);
    std::fprintf(stderr, "qwen3 chat: speculative decoding: %s\n", describe_spec(o.spec).c_str());
  }
  ChatSession session(*model, tok, renderer, end_of_sequence_ids(dir, model->config()), so, std::move(proposer));
  if (o.stats) std::fprintf(stderr, "[sampling: %s]\n", describe_sampling(so.sampling).c_str());

  const bool tty = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  const char* dim = tty ? "\x1b[2m" : "";
  const char* reset = tty ? "\x1b[0m" : "";
  bool thinking = !o.no_think;
  if (tty) out("qwen3 chat: /think, /no_think, /reset, /save FILE, /load FILE, /exit; Ctrl-C stops a reply\n");
  LineReader reader(tty);
  catch_sigint();
  for (;;) {
    g_interrupted.store(false);
    const std::optional<std::string> input = reader.read(tty ? "> " : "");
    if (!input) {
      if (g_interrupted.load()) out("\n");  // Ctrl-C at the prompt
      break;
    }
    const std::string& line = *input;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    try {
      if (command(line, session, renderer, thinking)) continue;
    } catch (const Error& e) {
      std::fprintf(stderr, "qwen3: %s\n", e.what());
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
    if (turn.stats.finish_reason == "cancelled") out("[stopped]\n");
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
  app.add_option("--system", o->system, "a system message to start the conversation with (kept by /reset)");
  add_sampling_flags(app, o->sampling);
  add_spec_flags(app, o->spec);
  set_examples(app, {"qwen3 chat --model DIR", "qwen3 chat --model DIR --quant q8 --no-think --stats",
                     "echo \"Hello!\" | qwen3 chat --model DIR --max-tokens 48"});
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace qwen3::tools
