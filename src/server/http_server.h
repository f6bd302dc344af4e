// The OpenAI-compatible HTTP server over the engine (cpp-httplib): routes, bearer authentication,
// SSE streaming, Prometheus metrics, and cancellation when a client goes away.
//
// Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, POST /tokenize,
// POST /detokenize, GET /health, GET /metrics; POST /v1/embeddings and /v1/rerank (set_task). Errors are
// OpenAI's error JSON. The web chat page at / (server/web_page.h) needs no API key.
//
// Generation responses are streamed with chunked transfer encoding, also when not streaming: the
// worker then writes a space (JSON allows leading whitespace) every heartbeat while it waits, and
// an SSE stream writes a comment line when no token came for that long. A closed connection makes
// such a write fail, which cancels the request and frees its KV pages (cpp-httplib gives handlers
// no socket to poll).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "chat/chat_renderer.h"
#include "engine/engine.h"
#include "engine/pooling.h"
#include "server/openai_api.h"
#include "server/server_log.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (bind() returns it)
  std::string api_key;              // empty: no authentication
  std::string cors_origin;          // empty: no CORS headers; "*" or origins (server/web_page.h)
  // Connections served at once, one thread each, started on demand (ConnectionPool); each open
  // generation holds one. Past it a connection gets 503. At most kMaxHttpThreads.
  int http_threads = 1024;
  std::chrono::milliseconds header_timeout{10'000};  // request line + headers, from connect
  std::chrono::milliseconds body_timeout{60'000};    // the body, from the end of the headers
  int backlog = 1024;               // listen() backlog (cpp-httplib hard-codes 5)
  size_t max_body_bytes = 8u << 20; // larger bodies get 413
  // Bodies being read or parsed at once, in bytes: past it a request gets 503 (memory bound).
  size_t max_inflight_body_bytes = 64u << 20;
  int max_messages = 4096;          // messages of one chat request (400 past it)
  size_t max_prompt_bytes = 8u << 20;  // the rendered prompt, before tokenizing (400 past it)
  std::chrono::milliseconds heartbeat{200};
  // Where the server logs (server/server_log.h); null: nowhere. log_requests: a record per
  // generation and the access log (a record per HTTP request: method, path, status, milliseconds).
  std::shared_ptr<const Log> log;
  bool log_requests = true;
};
inline constexpr int kMaxHttpThreads = 4096;

class HttpServer {
 public:
  HttpServer(engine::Engine& engine, const Tokenizer& tokenizer, const ChatTemplateRenderer& renderer,
             ApiDefaults defaults, ServerOptions options);
  ~HttpServer();
  // Before bind(): the model serves embed or rerank through `pooler` (/v1/embeddings, /v1/rerank;
  // the generation endpoints answer 400), or generate (the default; the pooling endpoints answer 400).
  void set_task(ModelTask task, engine::Pooler* pooler);
  // Binds and listens; returns the port. Throws qwen3::Error when the address cannot be bound.
  int bind();
  // Serves until stop() (from another thread).
  void run();
  // Graceful shutdown (SIGTERM): new generations get 503; running ones may finish for up to
  // `timeout`, then are cancelled (each stream still ends with its finish_reason and [DONE]);
  // then stop(). Returns how many were cancelled.
  int drain(std::chrono::milliseconds timeout);
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace qwen3::server
