#include "engine/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace qwen3::engine {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "error";
}

Scheduler::Scheduler(KvCache& kv, SchedulerOptions options) : kv_(kv), options_(options) {
  if (options_.max_running < 1) fail("scheduler: max_running must be >= 1, got {}", options_.max_running);
  if (options_.max_batch_tokens < 1) fail("scheduler: max_batch_tokens must be >= 1, got {}", options_.max_batch_tokens);
  if (options_.decode_prefill_tokens < 0)
    fail("scheduler: decode_prefill_tokens must be >= 0, got {}", options_.decode_prefill_tokens);
  if (!(options_.prefill_waiting_ratio >= 0))
    fail("scheduler: prefill_waiting_ratio must be >= 0, got {}", options_.prefill_waiting_ratio);
}

const Scheduler::Request& Scheduler::get(RequestId id) const {
  auto it = requests_.find(id);
  if (it == requests_.end()) fail("scheduler: no request {}", id);
  return *it->second;
}
std::span<const int32_t> Scheduler::tokens(RequestId id) const { return get(id).tokens; }
std::span<const int32_t> Scheduler::prompt(RequestId id) const {
  const Request& r = get(id);
  return {r.tokens.data(), size_t(r.prompt_len)};
}
std::span<const int32_t> Scheduler::output(RequestId id) const {
  const Request& r = get(id);
  return {r.tokens.data() + r.prompt_len, size_t(r.output_len())};
}
int64_t Scheduler::num_computed(RequestId id) const { return get(id).num_computed; }
bool Scheduler::is_running(RequestId id) const { return get(id).status == Status::Running; }
bool Scheduler::is_decoding(RequestId id) const {
  const Request& r = get(id);
  return r.status == Status::Running && r.num_computed == int64_t(r.tokens.size()) - 1 && r.output_len() > 0;
}

void Scheduler::set_draft(RequestId id, std::vector<int32_t> draft) {
  auto it = requests_.find(id);
  if (it == requests_.end() || !is_decoding(id)) return;
  it->second->draft = std::move(draft);
}

void Scheduler::add(NewRequest nr) {
  const int64_t kv_tokens = kv_.options().num_pages * kv_.options().page_size;
  const int64_t limit = std::min(options_.max_context, kv_tokens);
  if (nr.prompt.empty()) fail("request {}: the prompt is empty", nr.id);
  if (nr.max_tokens < 1) fail("request {}: max_tokens must be >= 1, got {}", nr.id, nr.max_tokens);
  if (int64_t(nr.prompt.size()) + nr.max_tokens > limit)
    fail("request {}: the prompt ({} tokens) plus max_tokens ({}) is more than the context of {} tokens", nr.id,
         nr.prompt.size(), nr.max_tokens, limit);
  std::vector<RequestId> ids{nr.id};
  ids.insert(ids.end(), nr.siblings.begin(), nr.siblings.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (requests_.count(ids[i]) || kv_.contains(ids[i])) fail("scheduler: request id {} is in use", ids[i]);
    for (size_t j = 0; j < i; ++j)
      if (ids[j] == ids[i]) fail("scheduler: request id {} given twice", ids[i]);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    auto r = std::make_unique<Request>();
    r->id = ids[i];
    r->arrival = next_arrival_++;
    r->tokens = nr.prompt;
    r->prompt_len = int64_t(nr.prompt.size());
    r->max_tokens = nr.max_tokens;
    r->stop_token_ids = nr.stop_token_ids;
    if (i == 0) {
      r->status = Status::Waiting;
      r->awaiting = nr.siblings;
      waiting_.push_back(r.get());  // the newest arrival
    } else {
      r->status = Status::AwaitingParent;
      r->fork_parent = nr.id;
    }
    requests_.emplace(ids[i], std::move(r));
  }
}

void Scheduler::insert_by_arrival(std::vector<Request*>& list, Request* r) {
  auto at = std::upper_bound(list.begin(), list.end(), r,
                             [](const Request* a, const Request* b) { return a->arrival < b->arrival; });
  list.insert(at, r);
}

ScheduledChunk Scheduler::chunk(Request& r, int64_t n, int64_t num_draft) {
  ScheduledChunk c{r.id, r.num_computed, n, {}};
  c.tokens.assign(r.tokens.begin() + r.num_computed, r.tokens.begin() + (r.num_computed + n - num_draft));
  c.tokens.insert(c.tokens.end(), r.draft.begin(), r.draft.begin() + num_draft);
  c.num_draft = num_draft;
  if (r.num_computed + n - num_draft == int64_t(r.tokens.size())) {
    c.samplers.push_back(r.id);
    // Siblings take their first token from the same logits (the last prompt token's).
    if (r.output_len() == 0)
      for (RequestId s : r.awaiting) c.samplers.push_back(s);
  }
  return c;
}

void Scheduler::preempt(Request& r) {
  kv_.remove_sequence(r.id);
  r.draft.clear();
  r.num_computed = 0;
  r.fork_parent.reset();
  r.status = Status::Waiting;
  running_.erase(std::find(running_.begin(), running_.end(), &r));
  insert_by_arrival(waiting_, &r);
  ++num_preemptions_;
}

// Sets up r's sequence (a fork of its parent's prompt when possible) and reserves its first chunk.
// Returns false, with nothing changed, when the pages are not there.
bool Scheduler::admit(Request& r, int64_t budget, SchedulePlan& plan) {
  bool forked = false;
  if (r.fork_parent) {
    auto it = requests_.find(*r.fork_parent);
    if (it != requests_.end() && kv_.contains(it->first) && it->second->num_computed >= r.prompt_len) {
      try {
        kv_.fork(it->first, r.id);
      } catch (const KvCacheFull&) {
        return false;
      }
      kv_.pop(r.id, kv_.num_tokens(r.id) - r.prompt_len);
      r.num_computed = r.prompt_len;
      forked = true;
    }
  }
  if (!forked && options_.prefix_cache) {
    // At least the last token is computed: its logits are what the step samples from.
    r.num_computed = kv_.add_sequence_from_prefix_cache(r.id, r.tokens, int64_t(r.tokens.size()) - 1);
  } else if (!forked) {
    kv_.add_sequence(r.id);
    r.num_computed = 0;
  }
  const int64_t n = std::min(int64_t(r.tokens.size()) - r.num_computed, budget);
  try {
    kv_.reserve(r.id, n);
  } catch (const KvCacheFull&) {
    kv_.remove_sequence(r.id);
    r.num_computed = 0;
    return false;
  }
  r.fork_parent.reset();
  r.status = Status::Running;
  plan.chunks.push_back(chunk(r, n));
  plan.num_tokens += n;
  if (!forked && !r.admitted_before) plan.chunks.back().cached_prompt_tokens = r.num_computed;
  if (!forked && options_.prefix_cache) {
    prefix_hit_tokens_ += r.num_computed;
    prefix_lookup_tokens_ += int64_t(r.tokens.size());
  }
  r.admitted_before = true;
  return true;
}

SchedulePlan Scheduler::schedule() {
  SchedulePlan plan;
  int64_t budget = options_.max_batch_tokens;
  // Prompt tokens this step may compute (see SchedulerOptions::decode_prefill_tokens).
  int64_t prefill_budget = budget;
  if (options_.decode_prefill_tokens > 0) {
    // Prompts that could run now: running ones not yet prefilled, and waiting ones up to max_running.
    int64_t decoding = 0, prefilling = std::min<int64_t>(int64_t(waiting_.size()),
                                                        std::max<int64_t>(0, options_.max_running - int64_t(running_.size())));
    for (const Request* r : running_) (r->num_computed >= r->prompt_len ? decoding : prefilling) += 1;
    if (decoding > 0 && double(prefilling) < options_.prefill_waiting_ratio * double(decoding))
      prefill_budget = options_.decode_prefill_tokens;
  }
  // 1. Running requests, oldest first. Running is sorted by arrival, so the preemption victim (the
  // newest) is never one already scheduled in this step.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Request& r = *running_[i];
    const bool decoding = r.num_computed >= r.prompt_len;
    int64_t n = std::min({int64_t(r.tokens.size()) - r.num_computed, budget, decoding ? budget : prefill_budget});
    // Drafted tokens ride along with a decode step, as far as the budget, max_tokens (the step
    // emits up to drafts + 1 tokens) and the context allow.
    int64_t num_draft = 0;
    if (!r.draft.empty() && n == 1 && r.num_computed == int64_t(r.tokens.size()) - 1 && r.output_len() > 0)
      num_draft = std::max<int64_t>(0, std::min({int64_t(r.draft.size()), budget - 1, r.max_tokens - r.output_len() - 1,
                                                 options_.max_context - int64_t(r.tokens.size())}));
    n += num_draft;
    if (n == 0) {  // a prompt chunk over this step's prefill budget: later requests may decode
      ++i;
      continue;
    }
    bool self_preempted = false;
    for (;;) {
      try {
        kv_.reserve(r.id, n);
        break;
      } catch (const KvCacheFull&) {
        Request& victim = *running_.back();
        preempt(victim);
        plan.preempted.push_back(victim.id);
        if (&victim == &r) {
          self_preempted = true;
          break;
        }
      }
    }
    if (self_preempted) break;  // r was the newest: nothing after it
    plan.chunks.push_back(chunk(r, n, num_draft));
    r.draft.clear();
    plan.num_tokens += n;
    budget -= n;
    if (!decoding) prefill_budget -= n;
    ++i;
  }
  // 2. Admit waiting requests, oldest first (no skipping ahead: a long prompt at the head is not
  // starved by short ones behind it). Not in a step that had to preempt.
  if (plan.preempted.empty()) {
    while (!waiting_.empty() && std::min(budget, prefill_budget) > 0 && int(running_.size()) < options_.max_running) {
      Request& r = *waiting_.front();
      if (!admit(r, std::min(budget, prefill_budget), plan)) break;
      waiting_.erase(waiting_.begin());
      insert_by_arrival(running_, &r);
      budget -= plan.chunks.back().count;
      prefill_budget -= plan.chunks.back().count;
    }
  }
  for (Request* r : running_) r->draft.clear();  // drafts are for this step only
  return plan;
}

void Scheduler::release_awaiting(Request& r) {
  // Siblings that never got their first token from r: they prefill the prompt themselves.
  for (RequestId s : r.awaiting) {
    auto it = requests_.find(s);
    if (it == requests_.end() || it->second->status != Status::AwaitingParent) continue;
    it->second->status = Status::Waiting;
    it->second->fork_parent.reset();
    insert_by_arrival(waiting_, it->second.get());
  }
  r.awaiting.clear();
}

void Scheduler::remove(Request& r) {
  release_awaiting(r);
  if (r.status == Status::Running) running_.erase(std::find(running_.begin(), running_.end(), &r));
  if (r.status == Status::Waiting) waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &r));
  if (kv_.contains(r.id)) kv_.remove_sequence(r.id);
  requests_.erase(r.id);
}

void Scheduler::finish(RequestId id) {
  auto it = requests_.find(id);
  if (it != requests_.end()) remove(*it->second);
}

std::vector<RequestUpdate> Scheduler::update_from_output(const SchedulePlan& plan, std::span<const Sampled> sampled) {
  std::map<RequestId, int64_t> drafted;  // requests whose chunk had drafts: how many
  for (const ScheduledChunk& c : plan.chunks) {
    auto it = requests_.find(c.id);
    if (it == requests_.end() || it->second->status != Status::Running) continue;
    Request& r = *it->second;
    if (r.num_computed != c.begin) fail("scheduler: request {} advanced from {} but the plan began at {}", r.id, r.num_computed, c.begin);
    r.num_computed += c.count - c.num_draft;  // the drafts' K/V count once accepted (settle)
    if (c.num_draft > 0) drafted[r.id] = c.num_draft;
  }
  std::map<RequestId, int64_t> emitted;  // tokens appended this step
  // Once r's tokens of this step are known: the K/V of accepted drafts stay, the rest are popped
  // (emitted m + 1 tokens: the first m drafts were accepted), then its full pages are offered to
  // the prefix cache (which must never see a rejected draft's K/V).
  auto settle = [&](Request& r) {
    auto d = drafted.find(r.id);
    if (d != drafted.end()) {
      const int64_t accepted = std::min(d->second, std::max<int64_t>(0, emitted[r.id] - 1));
      r.num_computed += accepted;
      kv_.pop(r.id, d->second - accepted);
      drafted.erase(d);
    }
    if (options_.prefix_cache && kv_.contains(r.id)) kv_.cache_full_pages(r.id, r.tokens);
  };
  std::vector<RequestUpdate> updates;
  for (const Sampled& s : sampled) {
    auto it = requests_.find(s.id);
    if (it == requests_.end()) continue;
    Request& r = *it->second;
    r.tokens.push_back(s.token);
    ++emitted[r.id];
    RequestUpdate u{r.id, s.token, std::nullopt, false};
    if (std::find(r.stop_token_ids.begin(), r.stop_token_ids.end(), s.token) != r.stop_token_ids.end()) {
      u.finished = FinishReason::Stop;
      u.stop_token = true;
    } else if (r.output_len() >= r.max_tokens || int64_t(r.tokens.size()) >= options_.max_context) {
      u.finished = FinishReason::Length;
    }
    // The first sample of the request's prompt logits was shared with its siblings.
    if (r.output_len() == 1) r.awaiting.erase(r.awaiting.begin(), r.awaiting.end());
    if (u.finished) {
      if (r.status == Status::Running) settle(r);
      remove(r);
    } else if (r.status == Status::AwaitingParent) {
      r.status = Status::Waiting;
      insert_by_arrival(waiting_, &r);
    }
    updates.push_back(u);
  }
  for (const ScheduledChunk& c : plan.chunks) {
    auto it = requests_.find(c.id);
    if (it == requests_.end() || it->second->status != Status::Running) continue;
    if (c.num_draft > 0 && !emitted.count(c.id)) fail("scheduler: request {} had drafts but no token", c.id);
    settle(*it->second);
  }
  return updates;
}

}  // namespace qwen3::engine
