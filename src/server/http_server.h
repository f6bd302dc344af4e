// The OpenAI-compatible HTTP server over the engine (cpp-httplib): routes, bearer authentication,
// SSE streaming, Prometheus metrics, and cancellation when a client goes away.
//
// Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, POST /tokenize,
// POST /detokenize, GET /health, GET /metrics. Errors are OpenAI's error JSON.
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
#include "server/openai_api.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (bind() returns it)
  std::string api_key;              // empty: no authentication
  int http_threads = 256;           // each open generation holds one (cpp-httplib's default is 8)
  int backlog = 1024;               // listen() backlog (cpp-httplib hard-codes 5)
  size_t max_body_bytes = 8u << 20; // larger bodies get 413
  std::chrono::milliseconds heartbeat{200};
  bool log_requests = true;         // one line per request on stderr
};

class HttpServer {
 public:
  HttpServer(engine::Engine& engine, const Tokenizer& tokenizer, const ChatTemplateRenderer& renderer,
             ApiDefaults defaults, ServerOptions options);
  ~HttpServer();
  // Binds and listens; returns the port. Throws qwen3::Error when the address cannot be bound.
  int bind();
  // Serves until stop() (from another thread).
  void run();
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace qwen3::server
