#include "server/http_server.h"

#include <httplib.h>
#include <malloc.h>
#include <netdb.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unistd.h>

#include "chat/chat_template.h"
#include "server/connection_pool.h"
#include "server/structured_request.h"
#include "server/generation_writer.h"
#include "server/pooling_api.h"
#include "server/web_page.h"

namespace qwen3::server {

namespace {

using clock = std::chrono::steady_clock;

// When this thread's current request was routed (its headers read), for the access log: each
// connection is served by one thread, one request at a time. Unset for a request that failed to parse.
thread_local std::optional<clock::time_point> t_request_start;

// cpp-httplib 0.11 listens with a backlog of 5, which drops connections when dozens of clients
// connect at once; the listening socket is protected, so a subclass can listen() again with more.
class Listener : public httplib::Server {
 public:
  int socket() const { return svr_sock_; }
};

void send_json(httplib::Response& res, int status, const Json& j) {
  res.status = status;
  res.set_content(dump(j), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status(), e.to_json()); }

// A value for an error message: never a megabyte of nested JSON.
std::string brief(const Json& v) {
  if (v.is_structured()) return v.is_array() ? "an array" : "an object";
  return dump(v).substr(0, 60);
}

int64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * int64_t(::sysconf(_SC_PAGESIZE));
}

void histogram(std::string& out, const char* name, const char* help, const engine::Histogram& h) {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cum = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cum += h.counts[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, h.bounds[i], cum);
  }
  cum += h.counts.back();
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cum, name, h.sum, name, h.count);
}

}  // namespace

struct HttpServer::Impl {
  engine::Engine& engine;
  const Tokenizer& tok;
  const ChatTemplateRenderer& renderer;
  ApiDefaults defaults;
  ServerOptions options;
  Listener http;
  ConnectionPool* pool = nullptr;  // owned by `http`
  std::atomic<bool> stopping{false};
  // run() entered / returned: stop() must also stop a run() whose accept loop has not started yet
  // (cpp-httplib's stop() does nothing until it has).
  std::atomic<bool> run_entered{false}, run_returned{false};
  std::atomic<size_t> inflight_body_bytes{0};
  // Generations whose response is still being written; drain() waits for them.
  std::mutex gen_mu;
  std::condition_variable gen_cv;
  std::set<engine::RequestId> generating;
  bool draining = false;
  const int64_t started = int64_t(std::time(nullptr));
  std::mutex status_mu;
  std::map<int, uint64_t> status_counts;
  CorsPolicy cors{options.cors_origin};
  GrammarCache grammars{engine.options().vocabulary};  // structured output, compiled on the requests' threads
  // What the loaded model serves (set_task): generate through `engine`, embed / rerank through `pooler`.
  ModelTask task = ModelTask::Generate;
  engine::Pooler* pooler = nullptr;
  void require_task(ModelTask wanted, const char* endpoint) const;
  void constrain(const Json& body, const StructuredOptions& so, bool in_reasoning, engine::SamplingParams& params);

  Impl(engine::Engine& e, const Tokenizer& t, const ChatTemplateRenderer& r, ApiDefaults d, ServerOptions o)
      : engine(e), tok(t), renderer(r), defaults(std::move(d)), options(std::move(o)) {}

  void routes();
  void chat(const std::string& body, httplib::Response& res);
  void check_messages(const Json& body) const;
  void check_prompt_size(const std::string& prompt, const char* param) const;
  void completion(const std::string& body, httplib::Response& res);
  void start_generation(httplib::Response& res, std::vector<int32_t> prompt, engine::SamplingParams params,
                        std::optional<int64_t> max_tokens, GenerationInfo info);
  std::string metrics_text();
  void log(const std::string& line) {
    if (options.log && options.log_requests) options.log->info(line);
  }
};

void HttpServer::Impl::start_generation(httplib::Response& res, std::vector<int32_t> prompt,
                                        engine::SamplingParams params, std::optional<int64_t> max_tokens,
                                        GenerationInfo info) {
  const int64_t ctx = engine.max_context();
  if (int64_t(prompt.size()) >= ctx)
    throw ApiError(400, fmt::format("the prompt is {} tokens; this model's context is {} tokens", prompt.size(), ctx),
                   info.endpoint == Endpoint::Chat ? "messages" : "prompt", "context_length_exceeded");
  params.max_tokens = max_tokens ? *max_tokens : ctx - int64_t(prompt.size());
  if (params.max_tokens > ctx - int64_t(prompt.size()))
    throw ApiError(400, fmt::format("max_tokens ({}) plus the prompt ({} tokens) is more than the context ({} tokens)",
                                    params.max_tokens, prompt.size(), ctx),
                   "max_tokens", "context_length_exceeded");
  info.prompt_tokens = int64_t(prompt.size());
  info.n = params.n;
  info.logprobs = params.logprobs;
  std::shared_ptr<engine::RequestStream> stream;
  {
    std::lock_guard lk(gen_mu);
    if (draining) throw ApiError(503, "the server is shutting down");
    try {
      stream = engine.submit(std::move(prompt), params);
    } catch (const engine::QueueFull& e) {
      throw ApiError(503, e.what());
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    generating.insert(stream->id());
  }
  struct State {
    std::shared_ptr<engine::RequestStream> stream;
    GenerationWriter writer;
    clock::time_point submitted = clock::now(), first_token{}, last_write = clock::now();
    bool done = false, started = false;
  };
  auto st = std::make_shared<State>(State{stream, GenerationWriter(tok, info)});
  const bool sse = info.stream;
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      sse ? "text/event-stream" : "application/json",
      [this, st, sse](size_t, httplib::DataSink& sink) -> bool {
        auto write = [&](const std::string& out) {
          if (out.empty()) return true;
          st->last_write = clock::now();
          return sink.write(out.data(), out.size());
        };
        if (!st->started) {
          st->started = true;
          if (!write(st->writer.begin())) return false;
        }
        std::vector<engine::ChoiceDelta> deltas;
        for (;;) {
          if (stopping.load()) return false;
          deltas.clear();
          const auto poll = st->stream->wait(deltas, options.heartbeat);
          if (poll == engine::RequestStream::Poll::Data) {
            if (st->first_token == clock::time_point{})
              for (auto& d : deltas)
                if (!d.tokens.empty()) st->first_token = clock::now();
            if (!write(st->writer.add(deltas))) return false;
          }
          if (poll != engine::RequestStream::Poll::Done) {
            // A write to a closed connection fails (at the latest the second one): that is how a
            // disconnect is noticed. A non-streamed response (and a stream whose tokens produce no
            // text yet, inside a tool call) writes nothing while tokens arrive, so a heartbeat goes
            // out whenever nothing was written for that long, not only when no token came.
            if (clock::now() - st->last_write >= options.heartbeat && !write(sse ? ": keep-alive\n\n" : " "))
              return false;
            continue;
          }
          st->done = true;
          const std::string tail = st->writer.finish();
          if (!sink.write(tail.data(), tail.size())) return false;
          sink.done();
          return true;
        }
      },
      [this, st, info](bool) {
        if (!st->done) engine.cancel(st->stream->id());
        {
          std::lock_guard lk(gen_mu);
          generating.erase(st->stream->id());
        }
        gen_cv.notify_all();
        const auto now = clock::now();
        const bool got = st->first_token != clock::time_point{};
        const double ttft = got ? std::chrono::duration<double>(st->first_token - st->submitted).count() : 0;
        const double gen = got ? std::chrono::duration<double>(now - st->first_token).count() : 0;
        const int64_t out = st->writer.completion_tokens();
        log(fmt::format("{}: {} prompt tokens, {} generated, ttft {:.1f} ms, {:.1f} tok/s, finish {}", info.id,
                        info.prompt_tokens, out, ttft * 1e3, gen > 0 && out > info.n ? double(out - info.n) / gen : 0.0,
                        st->done ? st->writer.finish_reasons() : std::string("disconnected")));
      });
}

void HttpServer::Impl::check_messages(const Json& body) const {
  const auto it = body.find("messages");
  if (it != body.end() && it->is_array() && it->size() > size_t(options.max_messages))
    throw ApiError(400, fmt::format("'messages' holds {} messages; this server takes at most {} (--max-messages)",
                                    it->size(), options.max_messages),
                   "messages");
}

void HttpServer::Impl::check_prompt_size(const std::string& prompt, const char* param) const {
  if (prompt.size() > options.max_prompt_bytes)
    throw ApiError(400, fmt::format("the prompt is {} bytes; this server takes at most {} (--max-prompt-bytes)",
                                    prompt.size(), options.max_prompt_bytes),
                   param, "context_length_exceeded");
}

void HttpServer::Impl::require_task(ModelTask wanted, const char* endpoint) const {
  if (task == wanted) return;
  throw ApiError(400, fmt::format("{} needs a model that serves '{}'; the loaded model serves '{}' (qwen3 serve --task)",
                                  endpoint, task_name(wanted), task_name(task)),
                 "model", "wrong_task");
}

void HttpServer::Impl::chat(const std::string& text, httplib::Response& res) {
  require_task(ModelTask::Generate, "/v1/chat/completions");
  const Json body = parse_body(text);
  check_messages(body);
  ChatRequest cr = parse_chat_request(body, defaults);
  std::string prompt_text;
  try {
    prompt_text = renderer.render(cr.messages, /*add_generation_prompt=*/true, cr.enable_thinking, cr.tools,
                                  cr.template_kwargs);
  } catch (const TemplateError& e) {
    throw ApiError(400, fmt::format("the chat template refused the messages: {}", e.what()), "messages");
  }
  check_prompt_size(prompt_text, "messages");
  GenerationInfo info;
  info.endpoint = Endpoint::Chat;
  info.id = random_id("chatcmpl-");
  info.model = defaults.model_name;
  info.created = int64_t(std::time(nullptr));
  info.stream = cr.stream;
  info.include_usage = cr.stream && cr.include_usage;
  info.prompt_opens_reasoning = prompt_opens_reasoning(prompt_text);
  info.parse_tool_calls = !cr.tools.is_null();
  constrain(body, StructuredOptions{.chat = true, .reasoning = tok.token_to_id("</think>").has_value(), .tools = cr.tools},
            info.prompt_opens_reasoning, cr.params);
  start_generation(res, tok.encode(prompt_text), cr.params, cr.max_tokens, info);
}

void HttpServer::Impl::completion(const std::string& text, httplib::Response& res) {
  require_task(ModelTask::Generate, "/v1/completions");
  const Json body = parse_body(text);
  CompletionRequest cr = parse_completion_request(body, defaults);
  if (cr.prompt_text) check_prompt_size(*cr.prompt_text, "prompt");
  std::vector<int32_t> prompt = cr.prompt_text ? tok.encode(*cr.prompt_text) : cr.prompt_ids;
  if (prompt.empty()) throw ApiError(400, "the prompt is empty", "prompt");
  GenerationInfo info;
  info.endpoint = Endpoint::Completion;
  info.id = random_id("cmpl-");
  info.model = defaults.model_name;
  info.created = int64_t(std::time(nullptr));
  info.stream = cr.stream;
  info.include_usage = cr.stream && cr.include_usage;
  constrain(body, StructuredOptions{.chat = false, .reasoning = false, .tools = nullptr}, false, cr.params);
  start_generation(res, std::move(prompt), cr.params, cr.max_tokens, info);
}

// Structured output: the request's grammar, compiled here (not on the engine thread) through the
// cache; reasoning (<think> ... </think>) stays free in chat.
void HttpServer::Impl::constrain(const Json& body, const StructuredOptions& so, bool in_reasoning,
                                 engine::SamplingParams& params) {
  std::string param;
  const std::optional<std::string> gbnf = structured_grammar(body, so, &param);
  if (!gbnf) return;
  if (params.ignore_eos)
    throw ApiError(400, "ignore_eos cannot be combined with structured output (the grammar ends the text)", "ignore_eos");
  const GrammarCache::Compiled compiled = grammars.get(*gbnf, param);
  engine::Constraint c{.grammar = compiled.grammar, .masker = compiled.masker};
  if (so.reasoning) {
    const auto open = tok.token_to_id("<think>"), close = tok.token_to_id("</think>");
    if (open && close) c.reasoning_open = *open, c.reasoning_close = *close, c.in_reasoning = in_reasoning;
  }
  params.constraint = std::make_shared<const engine::Constraint>(std::move(c));
}

std::string HttpServer::Impl::metrics_text() {
  const engine::MetricsSnapshot m = engine.metrics();
  std::string out;
  out += "# HELP qwen3_http_requests_total HTTP requests by status code.\n# TYPE qwen3_http_requests_total counter\n";
  {
    std::lock_guard lk(status_mu);
    for (auto& [code, n] : status_counts) out += fmt::format("qwen3_http_requests_total{{status=\"{}\"}} {}\n", code, n);
  }
  out += "# HELP qwen3_sequences_finished_total Finished sequences (choices) by reason.\n"
         "# TYPE qwen3_sequences_finished_total counter\n";
  const char* reasons[] = {"stop", "length", "cancelled", "error"};
  for (int i = 0; i < 4; ++i) out += fmt::format("qwen3_sequences_finished_total{{reason=\"{}\"}} {}\n", reasons[i], m.finished[i]);
  auto scalar = [&](const char* name, const char* type, const char* help, double v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  scalar("qwen3_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.", double(m.prompt_tokens));
  scalar("qwen3_generation_tokens_total", "counter", "Generated tokens.", double(m.generation_tokens));
  scalar("qwen3_preemptions_total", "counter", "Sequences preempted for lack of KV pages.", double(m.preemptions));
  scalar("qwen3_requests_running", "gauge", "Sequences in the running batch.", double(m.running));
  scalar("qwen3_requests_waiting", "gauge", "Sequences waiting for admission.", double(m.waiting));
  scalar("qwen3_kv_pages_used", "gauge", "KV cache pages held by sequences.", double(m.kv_pages_used));
  scalar("qwen3_kv_pages_cached", "gauge", "KV cache pages held only by the prefix cache (evictable).",
         double(m.kv_pages_cached));
  scalar("qwen3_kv_pages_free", "gauge", "KV cache pages neither used nor cached.", double(m.kv_pages_free));
  scalar("qwen3_prefix_cache_hit_tokens_total", "counter", "Prompt tokens found in the prefix cache.",
         double(m.prefix_hit_tokens));
  scalar("qwen3_prefix_cache_miss_tokens_total", "counter", "Prompt tokens not found in the prefix cache.",
         double(m.prefix_miss_tokens));
  scalar("qwen3_prefix_cache_hit_requests_total", "counter", "Requests with part of the prompt cached.",
         double(m.prefix_hit_requests));
  scalar("qwen3_prefix_cache_miss_requests_total", "counter", "Requests with nothing of the prompt cached.",
         double(m.prefix_miss_requests));
  scalar("qwen3_kv_pages_total", "gauge", "KV cache pages.", double(m.kv_pages_total));
  scalar("qwen3_spec_verify_steps_total", "counter", "Speculative decoding: decode steps that verified drafts.",
         double(m.spec_verify_steps));
  scalar("qwen3_spec_draft_tokens_total", "counter", "Speculative decoding: draft tokens proposed and verified.",
         double(m.spec_drafted_tokens));
  scalar("qwen3_spec_accepted_tokens_total", "counter", "Speculative decoding: draft tokens accepted.",
         double(m.spec_accepted_tokens));
  scalar("qwen3_spec_emitted_tokens_total", "counter",
         "Speculative decoding: tokens emitted by verifying steps (accepted drafts + one per step).",
         double(m.spec_emitted_tokens));
  scalar("qwen3_spec_draft_seconds_total", "counter", "Speculative decoding: seconds spent proposing drafts.",
         m.spec_draft_seconds);
  scalar("qwen3_spec_verify_seconds_total", "counter",
         "Speculative decoding: seconds in the forward passes that verified drafts.", m.spec_verify_seconds);
  histogram(out, "qwen3_time_to_first_token_seconds", "Time from submission to the first token.", m.time_to_first_token);
  histogram(out, "qwen3_inter_token_latency_seconds", "Time between consecutive tokens of a sequence.", m.inter_token_latency);
  if (pool != nullptr) {
    const ConnectionPool::Stats c = pool->stats();
    scalar("qwen3_http_connections_open", "gauge", "HTTP connections being served or queued.", double(c.active));
    scalar("qwen3_http_threads", "gauge", "HTTP worker threads started.", double(c.threads));
    scalar("qwen3_http_connections_rejected_total", "counter", "Connections refused past --http-threads.",
           double(c.rejected));
    scalar("qwen3_http_connections_timed_out_total", "counter",
           "Connections cut at the header or body deadline.", double(c.timed_out));
  }
  scalar("process_resident_memory_bytes", "gauge", "Resident memory.", double(resident_bytes()));
  return out;
}

void HttpServer::Impl::routes() {
  auto guarded = [](auto fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, fmt::format("internal error: {}", e.what())));
      }
    };
  };
  // POST bodies are read here, whatever their Content-Type: cpp-httplib would parse a form-encoded
  // body itself (curl -d sends that type) and refuse one over 8 KiB. The size limit still holds.
  // Bodies being read or parsed count against --max-inflight-body-bytes until the handler returns
  // (a generation's handler returns once it is queued); a large one gives its memory back to the
  // system afterwards, so that a burst of big requests does not leave the heap at its peak.
  auto post = [this, guarded](const char* path, auto fn) {
    http.Post(path, [this, guarded, fn](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
      const size_t max_body = options.max_body_bytes, max_inflight = options.max_inflight_body_bytes;
      std::string body;
      size_t counted = 0;
      bool busy = false;
      const bool read = reader([&](const char* data, size_t n) {
        if (inflight_body_bytes.fetch_add(n) + n > max_inflight) {
          inflight_body_bytes -= n;
          busy = true;
          return false;
        }
        counted += n;
        body.append(data, n);
        return true;
      });
      ConnectionPool::body_received();
      guarded([&](const httplib::Request& q, httplib::Response& r) {
        if (busy) {
          r.set_header("Connection", "close");
          throw ApiError(503, fmt::format("request bodies being processed exceed {} bytes (--max-inflight-body-bytes); "
                                          "retry later", max_inflight));
        }
        if (!read)
          throw std::strtoull(q.get_header_value("Content-Length").c_str(), nullptr, 10) > max_body
              ? ApiError(413, fmt::format("the request body is larger than {} bytes", max_body))
              : ApiError(400, "the request body could not be read");
        fn(body, r);
      })(req, res);
      inflight_body_bytes -= counted;
      if (counted >= (size_t{1} << 20)) {
        std::string().swap(body);
        malloc_trim(0);
      }
    });
  };
  add_web_page(http);
  http.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, Json::object()); });
  http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  }));
  http.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"object", "list"}, {"data", Json::array({{{"id", defaults.model_name}, {"object", "model"},
                                                                    {"created", started}, {"owned_by", "qwen3.cpp"},
                                                                    {"max_model_len", pooler ? pooler->max_context() : engine.max_context()}}})}});
  }));
  post("/v1/chat/completions", [this](const std::string& b, httplib::Response& r) { chat(b, r); });
  post("/v1/completions", [this](const std::string& b, httplib::Response& r) { completion(b, r); });
  post("/v1/embeddings", [this](const std::string& b, httplib::Response& r) {
    require_task(ModelTask::Embed, "/v1/embeddings");
    send_json(r, 200, embeddings_response(parse_body(b), *pooler, defaults));
  });
  for (const char* path : {"/v1/rerank", "/rerank"})
    post(path, [this, path](const std::string& b, httplib::Response& r) {
      require_task(ModelTask::Rerank, path);
      send_json(r, 200, rerank_response(parse_body(b), *pooler, defaults));
    });
  post("/tokenize", [this](const std::string& raw, httplib::Response& res) {
    const Json body = parse_body(raw);
    std::string text;
    if (body.contains("messages")) {
      check_messages(body);
      const ChatRequest cr = parse_chat_request(body, defaults);
      const auto a = body.find("add_generation_prompt");
      if (a != body.end() && !a->is_null() && !a->is_boolean())
        throw ApiError(400, "'add_generation_prompt' must be a boolean", "add_generation_prompt");
      const bool agp = a == body.end() || a->is_null() || a->get<bool>();
      try {
        text = renderer.render(cr.messages, agp, cr.enable_thinking, cr.tools, cr.template_kwargs);
      } catch (const TemplateError& e) {
        throw ApiError(400, fmt::format("the chat template refused the messages: {}", e.what()), "messages");
      }
    } else if (body.contains("prompt") && body["prompt"].is_string()) {
      text = body["prompt"].get<std::string>();
    } else {
      throw ApiError(400, "/tokenize takes {\"prompt\": string} or {\"messages\": [...]}", "prompt");
    }
    const std::vector<int32_t> ids = tok.encode(text);
    send_json(res, 200, {{"tokens", ids}, {"count", ids.size()},
                         {"max_model_len", pooler ? pooler->max_context() : engine.max_context()}});
  });
  post("/detokenize", [this](const std::string& text, httplib::Response& res) {
    const Json body = parse_body(text);
    if (!body.contains("tokens") || !body["tokens"].is_array()) throw ApiError(400, "'tokens' must be an array of token ids", "tokens");
    std::vector<int32_t> ids;
    for (auto& t : body["tokens"]) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.vocab_size() || !tok.contains(int32_t(t.get<int64_t>())))
        throw ApiError(400, fmt::format("'tokens' holds {}, which is not a token id", brief(t)), "tokens");
      ids.push_back(int32_t(t.get<int64_t>()));
    }
    send_json(res, 200, {{"prompt", tok.decode(ids)}});
  });

  // Bearer authentication on everything but /health, the web page and CORS preflights.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    ConnectionPool::headers_received();
    t_request_start = clock::now();
    if (cors.preflight(req, res)) return httplib::Server::HandlerResponse::Handled;
    cors.apply(req, res);
    // A body announced as larger than allowed (or a length that is not a number) is refused before
    // cpp-httplib reads it: it would otherwise read and discard the whole announced length first.
    if (req.has_header("Content-Length")) {
      const std::string v = req.get_header_value("Content-Length");
      const bool number = !v.empty() && v.size() <= 18 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!number || std::stoull(v) > options.max_body_bytes) {
        res.set_header("Connection", "close");
        send_error(res, number ? ApiError(413, fmt::format("the request body is larger than {} bytes", options.max_body_bytes))
                               : ApiError(400, fmt::format("Content-Length '{}' is not a length", v.substr(0, 40))));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (options.api_key.empty() || req.path == "/health" ||
        ((req.method == "GET" || req.method == "HEAD") && is_web_page_path(req.path)))
      return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + options.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(401, "missing or wrong API key (Authorization: Bearer ...)", "", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // cpp-httplib's own errors (no route, body too large, unparsable HTTP) in OpenAI's form.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg = res.status == 404   ? fmt::format("no route {} {}", req.method, req.path)
                      : res.status == 413 ? std::string("the request body is too large")
                                          : fmt::format("HTTP error {}", res.status);
    send_error(res, ApiError(res.status, msg));
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, ApiError(500, "internal error"));
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    ConnectionPool::response_sent();
    if (options.log && options.log_requests)
      options.log->access(req.method, req.path, res.status,
                          t_request_start ? std::chrono::duration<double, std::milli>(clock::now() - *t_request_start).count() : 0.0);
    t_request_start.reset();
    std::lock_guard lk(status_mu);
    ++status_counts[res.status];
  });
  http.set_payload_max_length(options.max_body_bytes);
  // Whole-request deadlines are the pool's; this is cpp-httplib's per-recv timeout.
  http.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(
      std::min(options.header_timeout, options.body_timeout) + std::chrono::seconds(1)));
  // SO_REUSEADDR without cpp-httplib's SO_REUSEPORT: a second server on a taken port must fail to
  // bind, not share the port with the first.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http.new_task_queue = [this] {
    pool = new ConnectionPool(ConnectionLimits{.max_connections = options.http_threads,
                                               .header_timeout = options.header_timeout,
                                               .body_timeout = options.body_timeout});
    return pool;
  };
}

HttpServer::HttpServer(engine::Engine& engine, const Tokenizer& tokenizer, const ChatTemplateRenderer& renderer,
                       ApiDefaults defaults, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, tokenizer, renderer, std::move(defaults), std::move(options))) {
  const ServerOptions& o = impl_->options;
  if (o.http_threads < 1 || o.http_threads > kMaxHttpThreads)
    fail("--http-threads must be 1..{}, got {}", kMaxHttpThreads, o.http_threads);
  if (o.header_timeout.count() <= 0 || o.body_timeout.count() <= 0) fail("HTTP timeouts must be > 0");
  if (o.max_messages < 1) fail("--max-messages must be >= 1, got {}", o.max_messages);
  impl_->routes();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::set_task(ModelTask task, engine::Pooler* pooler) {
  if (task != ModelTask::Generate && !pooler) fail("serving '{}' needs a Pooler", task_name(task));
  impl_->task = task;
  impl_->pooler = pooler;
}

int HttpServer::bind() {
  Impl& s = *impl_;
  // cpp-httplib reports a name that does not resolve as a failed bind with errno unset.
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (const int rc = ::getaddrinfo(s.options.host.c_str(), nullptr, &hints, &found); rc != 0)
    fail("--host {}: {}", s.options.host, rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc));
  ::freeaddrinfo(found);
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
    if (port < 0) fail("cannot bind {}: {}", s.options.host, std::strerror(errno));
  } else if (!s.http.bind_to_port(s.options.host, port)) {
    fail("cannot bind {}:{}: {}", s.options.host, port, std::strerror(errno));
  }
  if (::listen(s.http.socket(), s.options.backlog) != 0) fail("listen: {}", std::strerror(errno));
  return port;
}

void HttpServer::run() {
  impl_->run_entered.store(true);
  if (!impl_->stopping.load()) impl_->http.listen_after_bind();
  impl_->run_returned.store(true);
}

int HttpServer::drain(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  int cancelled = 0;
  {
    std::unique_lock lk(s.gen_mu);
    s.draining = true;
    if (!s.gen_cv.wait_for(lk, timeout, [&] { return s.generating.empty(); })) {
      for (engine::RequestId id : s.generating) s.engine.cancel(id);
      cancelled = int(s.generating.size());
      // Each stream now ends with finish_reason "abort" and [DONE]; a client that does not read
      // is cut by stop() below.
      s.gen_cv.wait_for(lk, std::chrono::seconds(5), [&] { return s.generating.empty(); });
    }
  }
  stop();
  return cancelled;
}

void HttpServer::stop() {
  Impl& s = *impl_;
  s.stopping.store(true);
  // Until run() has returned (or for 5 s): a stop() that lands between run()'s check of
  // `stopping` and the start of the accept loop would otherwise leave the server listening.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    if (s.http.is_running()) s.http.stop();
    if (!s.run_entered.load() || s.run_returned.load()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } while (std::chrono::steady_clock::now() < deadline);
}

}  // namespace qwen3::server
