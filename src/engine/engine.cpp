#include "engine/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/parallel_for.h"

namespace qwen3::engine {

using clock = std::chrono::steady_clock;

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++count;
}

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

Engine::Engine(Qwen3Model& model, const Tokenizer& tokenizer, EngineOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      max_context_(std::min<int64_t>(model.config().max_position_embeddings,
                                     options_.kv_pages * int64_t(options_.page_size))),
      kv_(model.kv_options(options_.kv_pages, options_.page_size, options_.kv_dtype)),
      scheduler_(kv_, SchedulerOptions{.max_running = options_.max_batch,
                                       .max_batch_tokens = options_.max_batch_tokens,
                                       .max_context = max_context_,
                                       .decode_prefill_tokens = options_.decode_prefill_tokens,
                                       .prefill_waiting_ratio = options_.prefill_waiting_ratio,
                                       .prefix_cache = options_.prefix_cache}) {
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
  if (prompt.empty()) fail("the prompt is empty");
  for (int32_t t : prompt)
    if (t < 0 || t >= model_.config().vocab_size)
      fail("token id {} is outside the vocabulary [0, {})", t, model_.config().vocab_size);
  if (p.n < 1 || p.n > 128) fail("n must be between 1 and 128, got {}", p.n);
  if (p.max_tokens < 1) fail("max_tokens must be at least 1, got {}", p.max_tokens);
  if (int64_t(prompt.size()) > max_context_ || p.max_tokens > max_context_ - int64_t(prompt.size()))
    fail("the prompt ({} tokens) plus max_tokens ({}) is longer than the context ({} tokens)", prompt.size(),
         p.max_tokens, max_context_);
  if (!(p.temperature >= 0)) fail("temperature must be >= 0, got {}", p.temperature);
  if (!(p.top_p > 0 && p.top_p <= 1)) fail("top_p must be in (0, 1], got {}", p.top_p);
  if (!(p.min_p >= 0 && p.min_p <= 1)) fail("min_p must be in [0, 1], got {}", p.min_p);
  if (!(p.repetition_penalty > 0)) fail("repetition_penalty must be > 0, got {}", p.repetition_penalty);
  if (!std::isfinite(p.presence_penalty) || !std::isfinite(p.frequency_penalty)) fail("penalties must be finite");
  if (p.top_logprobs < 0 || p.top_logprobs > 20) fail("top_logprobs must be between 0 and 20, got {}", p.top_logprobs);
  for (auto& [tok, bias] : p.logit_bias)
    if (tok < 0 || tok >= model_.config().vocab_size || !std::isfinite(bias))
      fail("logit_bias: token {} is outside the vocabulary or its bias is not finite", tok);

  const int64_t limit = int64_t(options_.max_batch) + options_.max_queue;
  if (active_choices_.fetch_add(p.n) + p.n > limit) {
    active_choices_.fetch_sub(p.n);
    throw QueueFull(fmt::format("the server is busy ({} sequences running or queued); try again later", limit));
  }
  const RequestId id = next_id_.fetch_add(p.n);
  auto stream = std::make_shared<RequestStream>(id, p.n, int64_t(prompt.size()));
  {
    std::lock_guard lk(mu_);
    inbox_.push_back({stream, std::make_shared<const SamplingParams>(p), std::move(prompt), clock::now()});
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
  const SamplingParams& sp = *p.params;
  const RequestId id = p.stream->id();
  NewRequest nr{.id = id, .prompt = p.prompt, .max_tokens = sp.max_tokens, .stop_token_ids = sp.stop_token_ids, .siblings = {}};
  if (!sp.ignore_eos) nr.stop_token_ids.insert(nr.stop_token_ids.end(), options_.eos_token_ids.begin(), options_.eos_token_ids.end());
  std::vector<RequestId> ids{id};
  for (int i = 1; i < sp.n; ++i) nr.siblings.push_back(id + i), ids.push_back(id + i);
  uint64_t seed = 0;
  if (sp.seed) {
    seed = *sp.seed;
  } else {
    std::random_device rd;
    seed = (uint64_t(rd()) << 32) ^ rd();
  }
  scheduler_.add(std::move(nr));  // validated in submit(): does not throw
  for (int i = 0; i < sp.n; ++i) {
    // Choice i of a seeded request draws from its own stream, whatever else is in the batch.
    Choice c{p.stream, p.params, i, Rng(seed ^ (0x9e3779b97f4a7c15ULL * uint64_t(i))),
             StreamingDetokenizer(tokenizer_, /*skip_special_tokens=*/true), StopMatcher(sp.stop),
             p.submitted, {}, {}, 0};
    choices_.emplace(id + i, std::move(c));
  }
  groups_[id] = std::move(ids);
  std::lock_guard lk(metrics_mu_);
  metrics_.prompt_tokens += p.prompt.size();
}

void Engine::end_choice(RequestId id, Choice& c, FinishReason reason, ChoiceDelta d) {
  d.finish = reason;
  auto stream = c.stream;
  const RequestId group = stream->id();
  {
    std::lock_guard lk(metrics_mu_);
    ++metrics_.finished[int(reason)];
  }
  choices_.erase(id);  // c is gone
  active_choices_.fetch_sub(1);
  auto g = groups_.find(group);
  if (g != groups_.end()) {
    auto& v = g->second;
    v.erase(std::remove(v.begin(), v.end(), id), v.end());
    if (v.empty()) groups_.erase(g);
  }
  stream->push(std::move(d));
}

// One sampled token of choice `id`: text through the detokenizer and the stop strings, then a
// delta to the stream.
void Engine::emit(RequestId id, const RequestUpdate& u, SampleResult* s) {
  auto it = choices_.find(id);
  if (it == choices_.end()) return;
  Choice& c = it->second;
  const auto now = clock::now();
  {
    std::lock_guard lk(metrics_mu_);
    if (c.generated == 0) metrics_.time_to_first_token.observe(std::chrono::duration<double>(now - c.submitted).count());
    else metrics_.inter_token_latency.observe(std::chrono::duration<double>(now - c.last_token).count());
    ++metrics_.generation_tokens;
  }
  if (c.generated == 0) c.first_token = now;
  c.last_token = now;
  ++c.generated;
  ChoiceDelta d;
  d.index = c.index;
  d.cached_tokens = c.cached_tokens;
  TokenInfo ti{u.token, 0, {}};
  if (s) ti.logprob = s->logprob, ti.top = std::move(s->top);
  d.tokens.push_back(std::move(ti));
  // A stop id is not part of the text; ids past the tokenizer's vocabulary have none.
  std::string text;
  if (!u.stop_token && tokenizer_.contains(u.token)) c.detok.push(u.token, text);
  if (u.finished && !u.stop_token) text += c.detok.flush();
  d.text = c.stop.feed(text);
  if (c.stop.stopped()) {
    if (!u.finished) scheduler_.finish(id);
    end_choice(id, c, FinishReason::Stop, std::move(d));
    return;
  }
  if (u.finished) {
    d.text += c.stop.finish();
    end_choice(id, c, c.stop.stopped() ? FinishReason::Stop : *u.finished, std::move(d));
    return;
  }
  c.stream->push(std::move(d));
}

void Engine::step() {
  SchedulePlan plan = scheduler_.schedule();
  if (plan.empty()) {
    // Nothing fits although nothing runs: cannot happen for requests submit() accepted (each fits
    // the cache alone); fail the head of the queue rather than spin.
    if (scheduler_.num_running() == 0)
      if (auto id = scheduler_.oldest_waiting()) {
        scheduler_.finish(*id);
        auto it = choices_.find(*id);
        if (it != choices_.end()) end_choice(*id, it->second, FinishReason::Error, {it->second.index, {}, {}, {}});
      }
    return;
  }
  note_first_admissions(plan);
  std::vector<SeqChunk> chunks;
  chunks.reserve(plan.chunks.size());
  for (auto& c : plan.chunks)
    chunks.push_back({c.id, scheduler_.tokens(c.id).subspan(size_t(c.begin), size_t(c.count)),
                      c.samplers.empty() ? LogitsWanted::None : LogitsWanted::Last});
  try {
    model_.forward(chunks, kv_, logits_);
  } catch (const std::exception& e) {
    if (options_.log) options_.log(fmt::format("forward failed: {}", e.what()));
    for (auto& c : plan.chunks)
      for (RequestId id : c.samplers.empty() ? std::vector<RequestId>{c.id} : c.samplers) {
        scheduler_.finish(id);
        auto it = choices_.find(id);
        if (it != choices_.end()) end_choice(id, it->second, FinishReason::Error, {it->second.index, {}, {}, {}});
      }
    return;
  }
  // Sampling jobs: (logits row, choice). Each choice has its own Rng, so the rows are sampled in
  // parallel (each thread with its own scratch) and the result does not depend on the split.
  struct Job {
    size_t row;
    RequestId id;
    Choice* choice;
  };
  std::vector<Job> jobs;
  size_t row = 0;
  for (auto& c : plan.chunks) {
    if (c.samplers.empty()) continue;
    for (RequestId id : c.samplers) jobs.push_back({row, id, &choices_.at(id)});
    ++row;
  }
  std::vector<SampleResult> results(jobs.size());
  const int threads = int(std::min<size_t>(size_t(num_threads()), jobs.size()));
  if (scratch_.size() < size_t(threads)) scratch_.resize(size_t(threads));
  struct Ctx {
    Engine* self;
    const std::vector<Job>* jobs;
    std::vector<SampleResult>* results;
    int threads;
  } ctx{this, &jobs, &results, threads};
  auto job = [](void* p, int t) {
    auto& c = *static_cast<Ctx*>(p);
    for (size_t j = size_t(t); j < c.jobs->size(); j += size_t(c.threads)) {
      const Job& b = (*c.jobs)[j];
      (*c.results)[j] = sample(c.self->logits_.row(b.row), *b.choice->params, c.self->scheduler_.prompt(b.id),
                               c.self->scheduler_.output(b.id), b.choice->rng, c.self->scratch_[size_t(t)]);
    }
  };
  if (threads > 1) run_on_threads(threads, job, &ctx);
  else if (threads == 1) job(&ctx, 0);
  std::vector<Sampled> sampled;
  sampled.reserve(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) sampled.push_back({jobs[j].id, results[j].token});
  const std::vector<RequestUpdate> updates = scheduler_.update_from_output(plan, sampled);
  // updates follow `sampled` (skipping none: every sampler is a live request).
  for (size_t i = 0, j = 0; i < updates.size(); ++i) {
    while (j < sampled.size() && sampled[j].id != updates[i].id) ++j;
    emit(updates[i].id, updates[i], j < results.size() ? &results[j] : nullptr);
  }
  std::lock_guard lk(metrics_mu_);
  metrics_.preemptions += plan.preempted.size();
  ++metrics_.steps;
}

// --- prefix cache: what a request's first admission found (begin) ---
void Engine::note_first_admissions(const SchedulePlan& plan) {
  for (const ScheduledChunk& c : plan.chunks) {
    auto it = choices_.find(c.id);
    if (c.cached_prompt_tokens < 0 || it == choices_.end() || it->second.index != 0) continue;
    auto g = groups_.find(c.id);  // choice 0's id is the request's id
    if (g != groups_.end())
      for (RequestId id : g->second) choices_.at(id).cached_tokens = c.cached_prompt_tokens;
    const int64_t prompt = int64_t(scheduler_.prompt(c.id).size());
    std::lock_guard lk(metrics_mu_);
    metrics_.prefix_hit_tokens += uint64_t(c.cached_prompt_tokens);
    metrics_.prefix_miss_tokens += uint64_t(prompt - c.cached_prompt_tokens);
    ++(c.cached_prompt_tokens > 0 ? metrics_.prefix_hit_requests : metrics_.prefix_miss_requests);
  }
}
// --- end prefix cache ---

void Engine::publish_metrics() {
  std::lock_guard lk(metrics_mu_);
  metrics_.running = int64_t(scheduler_.num_running());
  metrics_.waiting = int64_t(scheduler_.num_requests() - scheduler_.num_running());
  metrics_.kv_pages_used = kv_.pool().num_pages() - kv_.num_free_pages();
  metrics_.kv_pages_cached = kv_.num_evictable_pages();
  metrics_.kv_pages_free = kv_.pool().num_free();
}

void Engine::loop() {
  for (;;) {
    std::vector<Pending> inbox;
    std::vector<RequestId> cancels;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !inbox_.empty() || !cancels_.empty() || scheduler_.has_work(); });
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
          scheduler_.finish(p.stream->id() + i);
          auto c = choices_.find(p.stream->id() + i);
          if (c != choices_.end()) end_choice(c->first, c->second, FinishReason::Error, {i, {}, {}, {}});
          else active_choices_.fetch_sub(1), p.stream->push({i, {}, {}, FinishReason::Error});
        }
      }
    }
    for (RequestId g : cancels) {
      auto it = groups_.find(g);
      if (it == groups_.end()) continue;
      const std::vector<RequestId> ids = it->second;
      for (RequestId id : ids) {
        scheduler_.finish(id);
        auto c = choices_.find(id);
        if (c != choices_.end()) end_choice(id, c->second, FinishReason::Cancelled, {c->second.index, {}, {}, {}});
      }
    }
    if (scheduler_.has_work()) {
      try {
        step();
      } catch (const std::exception& e) {
        // A broken invariant: end every open request with an error rather than the process.
        if (options_.log) options_.log(fmt::format("engine step failed: {}", e.what()));
        std::vector<RequestId> open;
        for (auto& [id, c] : choices_) open.push_back(id);
        for (RequestId id : open) {
          scheduler_.finish(id);
          end_choice(id, choices_.at(id), FinishReason::Error, {choices_.at(id).index, {}, {}, {}});
        }
      }
    }
    publish_metrics();
  }
  // Shutting down: every open stream ends.
  std::lock_guard lk(mu_);
  for (auto& p : inbox_) {
    for (int i = 0; i < p.stream->n(); ++i) p.stream->push({i, {}, {}, FinishReason::Cancelled});
  }
  std::vector<RequestId> open;
  for (auto& [id, c] : choices_) open.push_back(id);
  for (RequestId id : open) {
    scheduler_.finish(id);
    end_choice(id, choices_.at(id), FinishReason::Cancelled, {choices_.at(id).index, {}, {}, {}});
  }
}

}  // namespace qwen3::engine
