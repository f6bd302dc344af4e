#include "engine/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/parallel_for.h"

namespace qwen3::engine {

using clock = std::chrono::steady_clock;

// --- RequestStream ---

RequestStream::Poll RequestStream::wait(std::vector<ChoiceDelta>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (pending_.empty() && finished_ < n_) cv_.wait_for(lk, timeout, [&] { return !pending_.empty() || finished_ >= n_; });
  if (!pending_.empty()) {
    for (auto& d : pending_) out.push_back(std::move(d));
    pending_.clear();
    return Poll::Data;
  }
  return finished_ >= n_ ? Poll::Done : Poll::Timeout;
}

void RequestStream::push(ChoiceDelta d) {
  {
    std::lock_guard lk(mu_);
    if (d.finish) ++finished_;
    pending_.push_back(std::move(d));
  }
  cv_.notify_all();
}

// --- Engine ---

namespace {
CoreOptions core_options(const EngineOptions& o) {
  return CoreOptions{.max_batch = o.max_batch,
                     .max_batch_tokens = o.max_batch_tokens,
                     .decode_prefill_tokens = o.decode_prefill_tokens,
                     .prefill_waiting_ratio = o.prefill_waiting_ratio,
                     .kv_pages = o.kv_pages,
                     .page_size = o.page_size,
                     .kv_dtype = o.kv_dtype,
                     .prefix_cache = o.prefix_cache,
                     .eos_token_ids = o.eos_token_ids,
                     .spec = o.spec,
                     .vocabulary = o.vocabulary,
                     .mask_cache_bytes = 64u << 20,
                     .log = o.log};
}
}  // namespace

Engine::Engine(Qwen3Model& model, const Tokenizer& tokenizer, EngineOptions options, std::unique_ptr<Proposer> proposer)
    : options_(std::move(options)), core_(model, core_options(options_), std::move(proposer)), output_(tokenizer) {
  if (options_.max_queue < 0) fail("engine: max_queue must be >= 0, got {}", options_.max_queue);
  metrics_.kv_pages_total = options_.kv_pages;
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<RequestStream> Engine::submit(std::vector<int32_t> prompt, const SamplingParams& p) {
  // The one validation: the engine thread queues what it returns.
  ValidRequest request = core_.check(std::move(prompt), std::make_shared<const SamplingParams>(p));
  const int64_t limit = int64_t(options_.max_batch) + options_.max_queue;
  if (active_choices_.fetch_add(p.n) + p.n > limit) {
    active_choices_.fetch_sub(p.n);
    throw QueueFull(fmt::format("the server is busy ({} sequences running or queued); try again later", limit));
  }
  const RequestId id = next_id_.fetch_add(p.n);
  auto stream = std::make_shared<RequestStream>(id, p.n, request.prompt_tokens());
  {
    std::lock_guard lk(mu_);
    inbox_.push_back({stream, std::move(request), clock::now()});
  }
  cv_.notify_all();
  return stream;
}

void Engine::cancel(RequestId id) {
  {
    std::lock_guard lk(mu_);
    cancels_.push_back(id);
  }
  cv_.notify_all();
}

MetricsSnapshot Engine::metrics() const {
  std::lock_guard lk(metrics_mu_);
  return metrics_;
}

void Engine::admit(Pending& p) {
  const RequestId id = p.stream->id();
  const int n = p.request.params().n;
  const int64_t prompt_tokens = p.request.prompt_tokens();
  const std::vector<std::string> stop = p.request.params().stop;
  core_.add(id, std::move(p.request));
  std::vector<RequestId> ids;
  for (int i = 0; i < n; ++i) {
    choices_.emplace(id + i, Choice{p.stream, i, p.submitted, {}, 0});
    output_.add(id + i, i, stop);
    ids.push_back(id + i);
  }
  groups_[id] = std::move(ids);
  std::lock_guard lk(metrics_mu_);
  metrics_.prompt_tokens += uint64_t(prompt_tokens);
}

void Engine::end_choice(RequestId id, ChoiceDelta d) {
  auto it = choices_.find(id);
  if (it == choices_.end()) return;
  auto stream = it->second.stream;
  const RequestId group = stream->id();
  {
    std::lock_guard lk(metrics_mu_);
    ++metrics_.finished[int(*d.finish)];
  }
  choices_.erase(it);
  output_.remove(id);
  active_choices_.fetch_sub(1);
  auto g = groups_.find(group);
  if (g != groups_.end()) {
    auto& v = g->second;
    v.erase(std::remove(v.begin(), v.end(), id), v.end());
    if (v.empty()) groups_.erase(g);
  }
  stream->push(std::move(d));
}

void Engine::abort_choice(RequestId id, FinishReason reason) {
  auto it = choices_.find(id);
  if (it == choices_.end()) return;
  core_.abort(id);
  ChoiceDelta d;
  d.index = it->second.index;
  d.finish = reason;
  end_choice(id, std::move(d));
}

// The tokens of one choice from the core: text through the output stage, then a delta to the stream.
void Engine::deliver(const CoreOutput& o) {
  auto it = choices_.find(o.id);
  if (it == choices_.end()) return;
  Choice& c = it->second;
  if (!o.tokens.empty()) {
    const auto now = clock::now();
    std::lock_guard lk(metrics_mu_);
    // Several tokens at once (accepted drafts) share the step's latency.
    const double since = std::chrono::duration<double>(now - (c.generated == 0 ? c.submitted : c.last_token)).count();
    if (c.generated == 0) metrics_.time_to_first_token.observe(since);
    for (size_t i = c.generated == 0 ? 1 : 0; i < o.tokens.size(); ++i)
      metrics_.inter_token_latency.observe(since / double(o.tokens.size()));
    metrics_.generation_tokens += o.tokens.size();
    c.last_token = now;
    c.generated += int64_t(o.tokens.size());
  }
  OutputProcessor::Result r = output_.process(o);
  if (r.stopped_by_string) core_.abort(o.id);
  if (r.done) {
    end_choice(o.id, std::move(r.delta));
    return;
  }
  c.stream->push(std::move(r.delta));
}

void Engine::step() {
  for (const CoreOutput& o : core_.step()) deliver(o);
}

void Engine::publish_metrics() {
  const CoreStats& s = core_.stats();
  const KvCache& kv = core_.kv();
  std::lock_guard lk(metrics_mu_);
  metrics_.running = int64_t(core_.scheduler().num_running());
  metrics_.waiting = int64_t(core_.scheduler().num_requests() - core_.scheduler().num_running());
  metrics_.kv_pages_used = kv.pool().num_pages() - kv.num_free_pages();
  metrics_.kv_pages_cached = kv.num_evictable_pages();
  metrics_.kv_pages_free = kv.pool().num_free();
  metrics_.steps = s.steps;
  metrics_.preemptions = s.preemptions;
  metrics_.prefix_hit_tokens = s.prefix_hit_tokens;
  metrics_.prefix_miss_tokens = s.prefix_miss_tokens;
  metrics_.prefix_hit_requests = s.prefix_hit_requests;
  metrics_.prefix_miss_requests = s.prefix_miss_requests;
  metrics_.spec_verify_steps = s.spec_verify_steps;
  metrics_.spec_drafted_tokens = s.spec_drafted;
  metrics_.spec_accepted_tokens = s.spec_accepted;
  metrics_.spec_emitted_tokens = s.spec_emitted;
  metrics_.spec_draft_seconds = s.draft_seconds;
  metrics_.spec_verify_seconds = s.verify_forward_seconds;
}

void Engine::loop() {
  for (;;) {
    std::vector<Pending> inbox;
    std::vector<RequestId> cancels;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !inbox_.empty() || !cancels_.empty() || core_.has_work(); });
      if (stop_) break;
      inbox.swap(inbox_);
      cancels.swap(cancels_);
    }
    for (auto& p : inbox) {
      try {
        admit(p);
      } catch (const std::exception& e) {  // submit() validated it: not expected
        if (options_.log) options_.log(fmt::format("request {} refused: {}", p.stream->id(), e.what()));
        for (int i = 0; i < p.stream->n(); ++i) {
          if (choices_.count(p.stream->id() + i)) {
            abort_choice(p.stream->id() + i, FinishReason::Error);
          } else {
            core_.abort(p.stream->id() + i);
            active_choices_.fetch_sub(1);
            p.stream->push({i, {}, {}, FinishReason::Error, 0});
          }
        }
      }
    }
    for (RequestId g : cancels) {
      auto it = groups_.find(g);
      if (it == groups_.end()) continue;
      const std::vector<RequestId> ids = it->second;
      for (RequestId id : ids) abort_choice(id, FinishReason::Cancelled);
    }
    if (core_.has_work()) {
      try {
        step();
      } catch (const std::exception& e) {
        // A broken invariant: end every open request with an error rather than the process.
        if (options_.log) options_.log(fmt::format("engine step failed: {}", e.what()));
        std::vector<RequestId> open;
        for (auto& [id, c] : choices_) open.push_back(id);
        for (RequestId id : open) abort_choice(id, FinishReason::Error);
      }
    }
    publish_metrics();
  }
  // Shutting down: every open stream ends.
  std::lock_guard lk(mu_);
  for (auto& p : inbox_) {
    for (int i = 0; i < p.stream->n(); ++i) p.stream->push({i, {}, {}, FinishReason::Cancelled, 0});
  }
  std::vector<RequestId> open;
  for (auto& [id, c] : choices_) open.push_back(id);
  for (RequestId id : open) abort_choice(id, FinishReason::Cancelled);
}

}  // namespace qwen3::engine
