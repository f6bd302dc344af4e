#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <unistd.h>

#include "chat/chat_template.h"
#include "server/generation_writer.h"

namespace qwen3::server {

namespace {

using clock = std::chrono::steady_clock;

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
  std::atomic<bool> stopping{false};
  const int64_t started = int64_t(std::time(nullptr));
  std::mutex status_mu;
  std::map<int, uint64_t> status_counts;

  Impl(engine::Engine& e, const Tokenizer& t, const ChatTemplateRenderer& r, ApiDefaults d, ServerOptions o)
      : engine(e), tok(t), renderer(r), defaults(std::move(d)), options(std::move(o)) {}

  void routes();
  void chat(const std::string& body, httplib::Response& res);
  void completion(const std::string& body, httplib::Response& res);
  void start_generation(httplib::Response& res, std::vector<int32_t> prompt, engine::SamplingParams params,
                        std::optional<int64_t> max_tokens, GenerationInfo info);
  std::string metrics_text();
  void log(const std::string& line) {
    if (options.log_requests) std::fputs((line + "\n").c_str(), stderr);
  }
};

void HttpServer::Impl::start_generation(httplib::Response& res, std::vector<int32_t> prompt,
                                        engine::SamplingParams params, std::optional<int64_t> max_tokens,
                                        GenerationInfo info) {
  const int64_t ctx = engine.max_context();
  if (int64_t(prompt.size()) >= ctx)
    throw ApiError(400, fmt::format("the prompt is {} tokens; this model's context is {} tokens", prompt.size(), ctx),
                   "messages", "context_length_exceeded");
  params.max_tokens = max_tokens ? *max_tokens : ctx - int64_t(prompt.size());
  if (params.max_tokens > ctx - int64_t(prompt.size()))
    throw ApiError(400, fmt::format("max_tokens ({}) plus the prompt ({} tokens) is more than the context ({} tokens)",
                                    params.max_tokens, prompt.size(), ctx),
                   "max_tokens", "context_length_exceeded");
  info.prompt_tokens = int64_t(prompt.size());
  info.n = params.n;
  info.logprobs = params.logprobs;
  std::shared_ptr<engine::RequestStream> stream;
  try {
    stream = engine.submit(std::move(prompt), params);
  } catch (const engine::QueueFull& e) {
    throw ApiError(503, e.what());
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  struct State {
    std::shared_ptr<engine::RequestStream> stream;
    GenerationWriter writer;
    clock::time_point submitted = clock::now(), first_token{};
    bool done = false, started = false;
  };
  auto st = std::make_shared<State>(State{stream, GenerationWriter(tok, info)});
  const bool sse = info.stream;
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      sse ? "text/event-stream" : "application/json",
      [this, st, sse](size_t, httplib::DataSink& sink) -> bool {
        if (!st->started) {
          st->started = true;
          const std::string head = st->writer.begin();
          if (!head.empty() && !sink.write(head.data(), head.size())) return false;
        }
        std::vector<engine::ChoiceDelta> deltas;
        for (;;) {
          if (stopping.load()) return false;
          deltas.clear();
          const auto poll = st->stream->wait(deltas, options.heartbeat);
          if (poll == engine::RequestStream::Poll::Timeout) {
            // A write to a closed connection fails (at the latest the second one): that is how a
            // disconnect is noticed while nothing else is written.
            const char* beat = sse ? ": keep-alive\n\n" : " ";
            if (!sink.write(beat, std::strlen(beat))) return false;
            continue;
          }
          if (poll == engine::RequestStream::Poll::Data) {
            if (st->first_token == clock::time_point{})
              for (auto& d : deltas)
                if (!d.tokens.empty()) st->first_token = clock::now();
            const std::string out = st->writer.add(deltas);
            if (!out.empty() && !sink.write(out.data(), out.size())) return false;
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

void HttpServer::Impl::chat(const std::string& text, httplib::Response& res) {
  const Json body = parse_body(text);
  ChatRequest cr = parse_chat_request(body, defaults);
  std::string prompt_text;
  try {
    prompt_text = renderer.render(cr.messages, /*add_generation_prompt=*/true, cr.enable_thinking, cr.tools,
                                  cr.template_kwargs);
  } catch (const TemplateError& e) {
    throw ApiError(400, fmt::format("the chat template refused the messages: {}", e.what()), "messages");
  }
  GenerationInfo info;
  info.endpoint = Endpoint::Chat;
  info.id = random_id("chatcmpl-");
  info.model = defaults.model_name;
  info.created = int64_t(std::time(nullptr));
  info.stream = cr.stream;
  info.include_usage = cr.stream && cr.include_usage;
  info.prompt_opens_reasoning = prompt_opens_reasoning(prompt_text);
  info.parse_tool_calls = !cr.tools.is_null();
  start_generation(res, tok.encode(prompt_text), cr.params, cr.max_tokens, info);
}

void HttpServer::Impl::completion(const std::string& text, httplib::Response& res) {
  const Json body = parse_body(text);
  CompletionRequest cr = parse_completion_request(body, defaults);
  std::vector<int32_t> prompt = cr.prompt_text ? tok.encode(*cr.prompt_text) : cr.prompt_ids;
  if (prompt.empty()) throw ApiError(400, "the prompt is empty", "prompt");
  GenerationInfo info;
  info.endpoint = Endpoint::Completion;
  info.id = random_id("cmpl-");
  info.model = defaults.model_name;
  info.created = int64_t(std::time(nullptr));
  info.stream = cr.stream;
  info.include_usage = cr.stream && cr.include_usage;
  start_generation(res, std::move(prompt), cr.params, cr.max_tokens, info);
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
  scalar("qwen3_kv_pages_used", "gauge", "KV cache pages in use.", double(m.kv_pages_used));
  scalar("qwen3_kv_pages_total", "gauge", "KV cache pages.", double(m.kv_pages_total));
  histogram(out, "qwen3_time_to_first_token_seconds", "Time from submission to the first token.", m.time_to_first_token);
  histogram(out, "qwen3_inter_token_latency_seconds", "Time between consecutive tokens of a sequence.", m.inter_token_latency);
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
  auto post = [this, guarded](const char* path, auto fn) {
    const size_t max_body = options.max_body_bytes;
    http.Post(path, [guarded, fn, max_body](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
      std::string body;
      const bool read = reader([&](const char* data, size_t n) {
        body.append(data, n);
        return true;
      });
      guarded([&](const httplib::Request& q, httplib::Response& r) {
        if (!read)
          throw std::strtoull(q.get_header_value("Content-Length").c_str(), nullptr, 10) > max_body
              ? ApiError(413, fmt::format("the request body is larger than {} bytes", max_body))
              : ApiError(400, "the request body could not be read");
        fn(body, r);
      })(req, res);
    });
  };
  http.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, Json::object()); });
  http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  }));
  http.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"object", "list"}, {"data", Json::array({{{"id", defaults.model_name}, {"object", "model"},
                                                                    {"created", started}, {"owned_by", "qwen3.cpp"},
                                                                    {"max_model_len", engine.max_context()}}})}});
  }));
  post("/v1/chat/completions", [this](const std::string& b, httplib::Response& r) { chat(b, r); });
  post("/v1/completions", [this](const std::string& b, httplib::Response& r) { completion(b, r); });
  post("/tokenize", [this](const std::string& raw, httplib::Response& res) {
    const Json body = parse_body(raw);
    std::string text;
    if (body.contains("messages")) {
      const ChatRequest cr = parse_chat_request(body, defaults);
      const bool agp = body.value("add_generation_prompt", true);
      text = renderer.render(cr.messages, agp, cr.enable_thinking, cr.tools, cr.template_kwargs);
    } else if (body.contains("prompt") && body["prompt"].is_string()) {
      text = body["prompt"].get<std::string>();
    } else {
      throw ApiError(400, "/tokenize takes {\"prompt\": string} or {\"messages\": [...]}", "prompt");
    }
    const std::vector<int32_t> ids = tok.encode(text);
    send_json(res, 200, {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", engine.max_context()}});
  });
  post("/detokenize", [this](const std::string& text, httplib::Response& res) {
    const Json body = parse_body(text);
    if (!body.contains("tokens") || !body["tokens"].is_array()) throw ApiError(400, "'tokens' must be an array of token ids", "tokens");
    std::vector<int32_t> ids;
    for (auto& t : body["tokens"]) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.vocab_size() || !tok.contains(int32_t(t.get<int64_t>())))
        throw ApiError(400, fmt::format("'tokens' holds {}, which is not a token id", t.dump()), "tokens");
      ids.push_back(int32_t(t.get<int64_t>()));
    }
    send_json(res, 200, {{"prompt", tok.decode(ids)}});
  });

  // Bearer authentication on everything but /health.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
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
  http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
    std::lock_guard lk(status_mu);
    ++status_counts[res.status];
  });
  http.set_payload_max_length(options.max_body_bytes);
  const int threads = options.http_threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
}

HttpServer::HttpServer(engine::Engine& engine, const Tokenizer& tokenizer, const ChatTemplateRenderer& renderer,
                       ApiDefaults defaults, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, tokenizer, renderer, std::move(defaults), std::move(options))) {
  if (impl_->options.http_threads < 1) fail("--http-threads must be >= 1");
  impl_->routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  Impl& s = *impl_;
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

void HttpServer::run() { impl_->http.listen_after_bind(); }

void HttpServer::stop() {
  impl_->stopping.store(true);
  if (impl_->http.is_running()) impl_->http.stop();
}

}  // namespace qwen3::server
