// qwen3 serve: the OpenAI-compatible HTTP server (src/server) over the continuous-batching engine
// (src/engine). Ctrl-C or SIGTERM drains it: no new generations, running ones finish within
// --shutdown-timeout or end as cancelled with their final event; a second signal stops at once.
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <memory>
#include <thread>

#include "chat/chat_renderer.h"
#include "core/error.h"
#include "core/progress.h"
#include "engine/engine.h"
#include "engine/token_vocabulary.h"
#include "engine/generation_defaults.h"
#include "engine/pooling.h"
#include "model/model_task.h"
#include "server/http_server.h"
#include "server/web_page.h"
#include "server/server_log.h"
#include "tokenizer/tokenizer.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/model_flags.h"
#include "tools/spec_flags.h"

namespace qwen3::tools {
namespace {

struct Opts {
  ModelFlags m;
  SpecFlags spec;
  std::string host = "127.0.0.1", api_key, served_name;
  int port = 8080, max_batch = 16, max_queue = 256;
  server::ServerOptions http;  // --http-threads, timeouts and request bounds
  double header_timeout_s = 10, body_timeout_s = 60, shutdown_timeout_s = 30;
  int64_t max_batch_tokens = 2048, decode_prefill_tokens = 16;
  double prefill_waiting_ratio = 2.0;
  double kv_memory_gib = 4.0;
  std::string log_level = "info", log_format = "text";
  bool no_prefix_cache = false;
  std::string task = "auto";
};

int run(const Opts& o) {
  if (o.port < 0 || o.port > 65535) fail("--port: {} is not a port", o.port);
  if (o.max_batch < 1 || o.max_batch > 1024) fail("--max-batch: must be 1..1024, got {}", o.max_batch);
  if (o.max_queue < 0) fail("--max-queue: must be >= 0, got {}", o.max_queue);
  if (o.max_batch_tokens < 1) fail("--max-batch-tokens: must be >= 1, got {}", o.max_batch_tokens);
  if (o.decode_prefill_tokens < 0) fail("--decode-prefill-tokens: must be >= 0, got {}", o.decode_prefill_tokens);
  if (!(o.prefill_waiting_ratio >= 0) || !std::isfinite(o.prefill_waiting_ratio))
    fail("--prefill-waiting-ratio: must be >= 0, got {}", o.prefill_waiting_ratio);
  if (!(o.kv_memory_gib > 0) || !std::isfinite(o.kv_memory_gib)) fail("--kv-memory: must be > 0 GiB");
  for (auto [flag, v] : {std::pair{"--http-header-timeout", o.header_timeout_s}, {"--http-body-timeout", o.body_timeout_s},
                         {"--shutdown-timeout", o.shutdown_timeout_s}})
    if (!(v > 0) || v > 1e6) fail("{}: must be > 0 seconds (at most 1e6), got {}", flag, v);
  (void)server::CorsPolicy(o.http.cors_origin);  // --cors-origin checked before the model loads
  const auto log = std::make_shared<const server::Log>(server::parse_log_level(o.log_level),
                                                       server::parse_log_format(o.log_format));
  if (server::parse_log_format(o.log_format) == server::LogFormat::Json)
    set_progress_output(ProgressOutput::Off);  // stderr holds JSON records only

  // The signal thread (below) takes SIGINT and SIGTERM; every other thread, created after this,
  // blocks them. A closed connection must not kill the process.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const SpecMode spec = spec_mode(o.spec);
  const std::filesystem::path dir = o.m.model;
  auto model = load_model(o.m);
  const Tokenizer tok = Tokenizer::load(dir / "tokenizer.json");
  const ChatTemplateRenderer renderer(dir);
  const Qwen3Config& c = model->config();
  // The task: --task, or read from the checkpoint (model/model_task.h). Embed / rerank run on the
  // Pooler below; the engine then gets one KV page and no requests (its endpoints answer 400).
  const std::optional<ModelTask> forced = o.task == "auto" ? std::nullopt : parse_task(o.task);
  if (o.task != "auto" && !forced) fail("--task: '{}' is not one of auto, generate, embed, rerank", o.task);
  const ModelTask task = forced ? *forced : detect_task(dir, model->weights());
  if (task == ModelTask::Generate && model->weights().headless)
    fail("{}: this checkpoint has no lm_head (an embedding model); serve it with --task embed", dir.string());
  if (task != ModelTask::Generate && (spec != SpecMode::Off || model->tensor_parallel()))
    fail("--task {}: speculative decoding and tensor parallelism serve generation only", task_name(task));

  engine::EngineOptions eo;
  eo.max_batch = o.max_batch;
  eo.max_batch_tokens = o.max_batch_tokens;
  eo.decode_prefill_tokens = o.decode_prefill_tokens;
  eo.prefill_waiting_ratio = o.prefill_waiting_ratio;
  eo.max_queue = o.max_queue;
  eo.prefix_cache = !o.no_prefix_cache;
  eo.kv_dtype = kv_dtype(o.m);
  eo.page_size = 16;
  // --kv-memory bounds the cache, the draft model's included: with a draft, target and draft get the
  // same number of pages (a sequence holds as many positions in each). No more pages than max_batch
  // full-length sequences can use.
  const int64_t page_bytes = kv_page_bytes(c, eo.page_size, eo.kv_dtype);
  const int64_t draft_page_bytes = draft_kv_page_bytes(o.spec, o.m, eo.page_size, eo.kv_dtype);
  const int64_t pages_per_seq = (c.max_context() + eo.page_size - 1) / eo.page_size;
  eo.kv_pages = std::min<int64_t>(int64_t(o.kv_memory_gib * double(1ull << 30) / double(page_bytes + draft_page_bytes)),
                                  int64_t(o.max_batch) * pages_per_seq);
  std::unique_ptr<engine::Pooler> pooler;
  if (task != ModelTask::Generate) {
    engine::PoolingOptions po{.kv_pages = eo.kv_pages, .page_size = eo.page_size, .kv_dtype = eo.kv_dtype,
                              .max_batch_tokens = o.max_batch_tokens};
    po.kv_pages = std::min<int64_t>(po.kv_pages, (std::max(c.max_context(), o.max_batch_tokens) + 15) / 16);
    if (po.kv_pages >= 1) pooler = std::make_unique<engine::Pooler>(*model, tok, task, po);
    eo.kv_pages = 1;
  }
  if (eo.kv_pages < 1 || (task != ModelTask::Generate && !pooler))
    fail("--kv-memory: {} GiB holds no KV page ({} bytes each{})", o.kv_memory_gib, page_bytes + draft_page_bytes,
         draft_page_bytes ? ", target and draft" : "");
  eo.eos_token_ids = end_of_sequence_ids(dir, c);
  eo.log = [log](const std::string& line) { log->warn(line); };  // a refused request, a failed step
  eo.spec = draft_length_options(o.spec);
  auto proposer = make_proposer(o.spec, o.m, *model, &tok, eo.kv_pages, eo.page_size, eo.kv_dtype);
  if (spec != SpecMode::Off) {
    const double mib = double(1 << 20);
    log->info(fmt::format("speculative decoding: {} | draft KV {} pages = {:.1f} MiB | target KV {} pages = {:.1f} MiB",
                          describe_spec(o.spec), draft_page_bytes ? eo.kv_pages : 0,
                          double(draft_page_bytes) * double(eo.kv_pages) / mib, eo.kv_pages,
                          double(page_bytes) * double(eo.kv_pages) / mib));
  }
  {
    const auto t0 = std::chrono::steady_clock::now();
    eo.vocabulary = engine::make_token_vocabulary(tok, eo.eos_token_ids);  // structured output's masks
    log->info(fmt::format("structured output: {} token vocabulary prepared in {:.0f} ms", eo.vocabulary->size(),
                          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()));
  }
  engine::Engine engine(*model, tok, eo, std::move(proposer));

  server::ApiDefaults defaults;
  defaults.sampling = engine::default_sampling(dir);
  defaults.model_name = o.served_name;
  if (defaults.model_name.empty()) {
    auto p = dir;
    if (p.filename().empty()) p = p.parent_path();
    defaults.model_name = p.filename().string();
  }
  using ms = std::chrono::milliseconds;
  server::ServerOptions so = o.http;
  so.host = o.host;
  so.port = o.port;
  so.api_key = o.api_key;
  so.header_timeout = ms(int64_t(o.header_timeout_s * 1e3));
  so.body_timeout = ms(int64_t(o.body_timeout_s * 1e3));
  so.log = log;
  so.log_requests = !o.m.quiet;
  server::HttpServer http(engine, tok, renderer, defaults, so);
  http.set_task(task, pooler.get());
  const int port = http.bind();
  if (pooler)
    log->info(fmt::format("listening on http://{}:{} (model {}, task {}, inputs up to {} tokens)", o.host, port,
                          defaults.model_name, task_name(task), pooler->max_context()));
  else
    log->info(fmt::format("listening on http://{}:{} (model {}, {} KV pages = {} tokens, max batch {})", o.host, port,
                          defaults.model_name, eo.kv_pages, eo.kv_pages * eo.page_size, o.max_batch));
  // The first SIGINT / SIGTERM drains (no new generations; running ones finish, or are cancelled
  // with a final event after --shutdown-timeout); a second one stops at once.
  std::atomic<bool> over{false};
  std::thread drainer;
  std::thread signals([&] {
    for (int n = 0; !over.load(); ++n) {
      int sig = 0;
      sigwait(&sigs, &sig);
      if (over.load()) return;
      if (n == 0) {
        log->info(fmt::format("{}: draining (at most {:g} s; again to stop now)", strsignal(sig), o.shutdown_timeout_s));
        drainer = std::thread([&] {
          const int cancelled = http.drain(ms(int64_t(o.shutdown_timeout_s * 1e3)));
          if (cancelled > 0) log->warn(fmt::format("cancelled {} running requests", cancelled));
        });
      } else {
        http.stop();
      }
    }
  });
  http.run();
  over.store(true);
  // Wake the signal thread if the server stopped for another reason.
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  if (drainer.joinable()) drainer.join();
  log->info("stopped");
  return 0;
}

const bool registered = register_command(
    "serve", "OpenAI-compatible HTTP server with continuous batching", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      add_model_flags(app, o->m);
      app.get_option("--model")->envname("QWEN3_MODEL");
      add_spec_flags(app, o->spec);
      app.add_option("--host", o->host, "address to listen on")->capture_default_str()->envname("QWEN3_HOST");
      app.add_option("--port", o->port, "port (0: any free port, printed on stderr)")
          ->capture_default_str()
          ->envname("QWEN3_PORT");
      app.add_option("--max-batch", o->max_batch, "sequences in one batch")
          ->capture_default_str()
          ->envname("QWEN3_MAX_BATCH");
      app.add_option("--max-batch-tokens", o->max_batch_tokens, "tokens in one step (prefill chunks + decodes)")
          ->capture_default_str();
      app.add_option("--decode-prefill-tokens", o->decode_prefill_tokens,
                     "while requests decode, prompt tokens per step (0: no cap), so a new prompt does not "
                     "stall every stream for a whole prefill")
          ->capture_default_str();
      app.add_option("--prefill-waiting-ratio", o->prefill_waiting_ratio,
                     "lift that cap when requests waiting for their prompt >= this x the decoding ones")
          ->capture_default_str();
      app.add_option("--kv-memory", o->kv_memory_gib, "KV cache size in GiB (the draft model's cache included)")
          ->capture_default_str()
          ->envname("QWEN3_KV_MEMORY");
      app.add_option("--max-queue", o->max_queue, "sequences waiting beyond --max-batch before 503")
          ->capture_default_str();
      app.add_option("--api-key", o->api_key, "require Authorization: Bearer KEY (all endpoints but /health)")
          ->envname("QWEN3_API_KEY");
      app.add_option("--cors-origin", o->http.cors_origin,
                     "let web pages from ORIGIN call the API (CORS): scheme://host[:port], a comma-separated "
                     "list, or *; default: no CORS headers");
      app.add_option("--served-model-name", o->served_name, "model name in the API (default: the folder name)")
          ->envname("QWEN3_SERVED_MODEL_NAME");
      app.add_option("--http-threads", o->http.http_threads,
                     fmt::format("connections served at once, one thread each, started on demand (each open "
                                 "request holds one; past it: 503); 1..{}", server::kMaxHttpThreads))
          ->capture_default_str();
      app.add_option("--http-header-timeout", o->header_timeout_s,
                     "seconds a connection may take to send a request's line and headers")
          ->capture_default_str();
      app.add_option("--http-body-timeout", o->body_timeout_s, "seconds a request may take to send its body")
          ->capture_default_str();
      app.add_option("--max-body-bytes", o->http.max_body_bytes, "largest request body (413 past it)")
          ->capture_default_str();
      app.add_option("--max-inflight-body-bytes", o->http.max_inflight_body_bytes,
                     "request bodies being read or parsed at once, in bytes (503 past it)")
          ->capture_default_str();
      app.add_option("--max-messages", o->http.max_messages, "messages in one chat request (400 past it)")
          ->capture_default_str();
      app.add_option("--max-prompt-bytes", o->http.max_prompt_bytes,
                     "the rendered prompt before tokenizing, in bytes (400 past it)")
          ->capture_default_str();
      app.add_option("--shutdown-timeout", o->shutdown_timeout_s,
                     "on SIGTERM / SIGINT, seconds running requests may take to finish before they are cancelled")
          ->capture_default_str();
      app.add_option("--log-level", o->log_level, "debug | info | warn | error")
          ->capture_default_str()
          ->envname("QWEN3_LOG_LEVEL");
      app.add_option("--log-format", o->log_format, "text | json (one JSON object a line)")
          ->capture_default_str()
          ->envname("QWEN3_LOG_FORMAT");
      app.add_option("--task", o->task,
                     "auto (from the checkpoint) | generate | embed (/v1/embeddings) | rerank (/v1/rerank)")
          ->capture_default_str();
      app.add_flag("--no-prefix-cache", o->no_prefix_cache,
                   "do not keep full KV pages after a request for later requests with the same prefix");
      set_examples(app, {"qwen3 serve --model ~/models/Qwen3-8B --port 8080",
                         "qwen3 serve --model DIR --quant q8 --max-batch 32 --kv-memory 8 --api-key KEY",
                         "QWEN3_MODEL=DIR QWEN3_PORT=8080 QWEN3_API_KEY=KEY qwen3 serve --log-format json",
                         "mpirun -n 2 --bind-to none qwen3 serve --model DIR --threads 1"});
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
