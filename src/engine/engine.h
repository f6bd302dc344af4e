// The serving engine: one thread owns the model and the KV cache and runs the scheduler's plans;
// other threads submit requests and read their results from per-request streams. submit() and
// cancel() are thread-safe; everything else in here runs on the engine thread. The engine owns the
// model while it lives: nothing else may run a forward pass (a model runs one at a time: its
// workspace is reused between calls, and core/parallel_for's pool serves one caller at a time).
//
//   Engine engine(model, tokenizer, options);          // starts the loop thread
//   auto stream = engine.submit(prompt_ids, params);    // throws Error (bad request), QueueFull
//   std::vector<ChoiceDelta> d;
//   while (stream->wait(d, 100ms) != RequestStream::Poll::Done) { ...; d.clear(); }
//   engine.cancel(stream->id());                        // e.g. the client went away
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "engine/metrics.h"
#include "engine/sampler.h"
#include "engine/sampling_params.h"
#include "engine/scheduler.h"
#include "engine/engine_core.h"
#include "engine/output_processor.h"
#include "engine/stop_strings.h"
#include "model/qwen3_model.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::engine {

// submit() when max_batch + max_queue choices are already in the engine (HTTP 503).
class QueueFull : public Error {
 public:
  using Error::Error;
};

struct EngineOptions {
  int max_batch = 16;                // sequences per step
  int64_t max_batch_tokens = 512;    // tokens per step (prefill chunks + decodes + drafts)
  // While requests decode: prompt tokens per step, unless waiting prompts >= ratio x decoding
  // (SchedulerOptions); 0: no cap.
  int64_t decode_prefill_tokens = 0;
  double prefill_waiting_ratio = 2.0;
  int64_t kv_pages = 4096;           // KV cache size in pages
  int page_size = 16;
  KvDType kv_dtype = KvDType::BF16;
  int max_queue = 256;               // choices waiting beyond max_batch before submit() refuses
  bool prefix_cache = true;          // SchedulerOptions::prefix_cache (--no-prefix-cache)
  std::vector<int32_t> eos_token_ids;
  DraftLengthOptions spec;           // draft lengths, with a proposer (speculative decoding)
  // For requests with a grammar constraint (engine/token_vocabulary.h); null: they are refused.
  std::shared_ptr<const grammar::TokenVocabulary> vocabulary;
  // Where the engine reports what went wrong inside it (a failed forward pass); may be empty.
  std::function<void(const std::string&)> log;
};

class RequestStream {
 public:
  enum class Poll { Data, Timeout, Done };
  RequestStream(RequestId id, int n, int64_t prompt_tokens) : id_(id), n_(n), prompt_tokens_(prompt_tokens) {}
  // Moves what arrived into `out` (Data), or waits up to `timeout` for it. Done once every choice
  // has finished and everything was read.
  Poll wait(std::vector<ChoiceDelta>& out, std::chrono::milliseconds timeout);
  RequestId id() const { return id_; }
  int n() const { return n_; }
  int64_t prompt_tokens() const { return prompt_tokens_; }

 private:
  friend class Engine;
  void push(ChoiceDelta d);
  const RequestId id_;
  const int n_;
  const int64_t prompt_tokens_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ChoiceDelta> pending_;
  int finished_ = 0;
};

class Engine {
 public:
  // With a proposer, decoding is speculative (engine_core.h); the outputs are the same.
  Engine(Qwen3Model& model, const Tokenizer& tokenizer, EngineOptions options, std::unique_ptr<Proposer> proposer = nullptr);
  ~Engine();  // stops the loop; open streams finish as cancelled
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates (qwen3::Error: empty prompt, id outside the vocabulary, prompt + max_tokens past the
  // context, parameters out of range) and queues the request.
  std::shared_ptr<RequestStream> submit(std::vector<int32_t> prompt, const SamplingParams& params);
  // Cancels every choice of the request and frees its KV pages (soon, on the engine thread).
  void cancel(RequestId id);
  // Longest prompt + output of one sequence: the model's max_context(), or the KV cache if smaller.
  int64_t max_context() const { return core_.max_context(); }
  MetricsSnapshot metrics() const;
  const EngineOptions& options() const { return options_; }

 private:
  // Per choice, what the engine thread keeps beside the core and the output stage: where its
  // deltas go and its timing.
  struct Choice {
    std::shared_ptr<RequestStream> stream;
    int index = 0;
    std::chrono::steady_clock::time_point submitted, last_token;
    int64_t generated = 0;
  };
  struct Pending {
    std::shared_ptr<RequestStream> stream;
    ValidRequest request;
    std::chrono::steady_clock::time_point submitted;
  };

  void loop();
  void admit(Pending& p);
  void step();
  void deliver(const CoreOutput& o);
  void end_choice(RequestId id, ChoiceDelta d);  // d.finish set; the core has let go of it
  void abort_choice(RequestId id, FinishReason reason);  // the core lets go of it now
  void publish_metrics();

  const EngineOptions options_;
  EngineCore core_;
  OutputProcessor output_;
  std::unordered_map<RequestId, Choice> choices_;                  // engine thread only
  std::unordered_map<RequestId, std::vector<RequestId>> groups_;   // request -> its open choices

  // Shared with submitting threads.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> inbox_;
  std::vector<RequestId> cancels_;
  bool stop_ = false;
  std::atomic<int64_t> next_id_{1};
  std::atomic<int64_t> active_choices_{0};

  mutable std::mutex metrics_mu_;
  Metrics metrics_;  // guarded by metrics_mu_
  std::thread thread_;
};

}  // namespace qwen3::engine
