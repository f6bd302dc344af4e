// The scheduler: a pure state machine over requests and the KV cache's page bookkeeping (the
// vLLM v1 design). No tensors, no threads, no clock:
//
//   plan = scheduler.schedule();              // which tokens of which requests to run this step
//   ... the engine runs plan through the model and samples where the plan says ...
//   updates = scheduler.update_from_output(plan, sampled);
//
// One token budget per step instead of prefill and decode phases: running requests come first,
// oldest first, each with all the tokens it has not computed yet (1 when decoding, a chunk of the
// prompt when prefilling) up to the budget; then waiting requests are admitted, oldest first, while
// the budget, the batch size and KV pages last. Pages are reserved here (KvCache::reserve), so the
// forward pass never runs out of them. When a running request cannot get its pages, the newest
// running request is preempted: its KV is freed and it goes back to the waiting queue keeping its
// output; when readmitted it recomputes prompt + output and continues where it stopped, so its
// output is what it would have been.
//
// n > 1: a request's further choices are siblings. They sample their first token from the logits
// of the request's last prompt token (no prefill of their own) and are then admitted by forking the
// request's KV (full pages shared, copy-on-write); if that is no longer possible they recompute.
//
// Prefix cache (SchedulerOptions::prefix_cache): after every step the full pages a request has
// computed are offered to the KV cache's prefix index (KvCache::cache_full_pages), so they outlive
// the request, and a request being admitted (first time, or again after preemption) starts from
// the longest cached prefix of its tokens in whole pages, always leaving at least one token to
// compute (the last one's logits are needed). Pages of a finished or preempted request stay cached
// but evictable: KvCache counts them as free and evicts the least recently released when it needs
// pages, so admission and preemption need no cache-specific accounting. Keeping a preempted
// request's pages costs nothing (the reservation that preempted it evicts them first if it must)
// and makes its recompute free when they survive.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "kv/kv_cache.h"

namespace qwen3::engine {

using RequestId = SeqId;  // a request's KV sequence has the request's id

enum class FinishReason { Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct SchedulerOptions {
  int max_running = 16;             // sequences in one batch (--max-batch)
  int64_t max_batch_tokens = 512;   // tokens in one step: decodes (1 each) and prefill chunks
  int64_t max_context = 4096;       // prompt + output tokens of one sequence
  // Decode-first chunking. In a step where some running requests are decoding, prompt tokens
  // (chunks of prompts being prefilled, new admissions) are capped at decode_prefill_tokens, so
  // that a long prompt arriving does not stall every decode for a whole prefill (the inter-token
  // latency tail), unless the requests waiting for their prompt are at least
  // prefill_waiting_ratio x the decoding ones (a burst of arrivals is then admitted at once, as
  // TGI's waiting_served_ratio does). 0: no cap.
  int64_t decode_prefill_tokens = 0;
  double prefill_waiting_ratio = 2.0;
  bool prefix_cache = true;  // reuse cached full pages of earlier requests' tokens (--no-prefix-cache)
};

struct NewRequest {
  RequestId id = 0;
  std::vector<int32_t> prompt;
  int64_t max_tokens = 16;
  std::vector<int32_t> stop_token_ids;  // finish after sampling one of these (eos included by the caller)
  std::vector<RequestId> siblings;      // further choices (n > 1), same prompt and limits
};

struct ScheduledChunk {
  RequestId id = 0;
  int64_t begin = 0, count = 0;     // tokens [begin, begin + count) of the request's prompt + output
  // The chunk's token ids, what the forward pass runs: the request's tokens [begin, begin + count),
  // except that the last num_draft of them are drafted tokens (speculative decoding), not yet the
  // request's: a decoding request's chunk is then [its last token, draft...], whose logits are all
  // wanted, and update_from_output keeps the K/V of the drafts that were accepted.
  std::vector<int32_t> tokens;
  int64_t num_draft = 0;
  // Who samples a token from the logits of this chunk's last token, in order: empty when the chunk
  // does not reach the end of the request's tokens (a prompt chunk that is not the last).
  std::vector<RequestId> samplers;
  // On the chunk that first admits a request other than by a fork: the prompt tokens found in the
  // prefix cache (0 on a miss or with the cache off), i.e. `begin`. -1 on every other chunk.
  int64_t cached_prompt_tokens = -1;
};

struct SchedulePlan {
  std::vector<ScheduledChunk> chunks;
  std::vector<RequestId> preempted;  // in this step, newest first
  int64_t num_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

// A token sampled for a request. A request with a drafted chunk may have several in a row (the
// accepted drafts, then one more), in order.
struct Sampled {
  RequestId id = 0;
  int32_t token = 0;
};

struct RequestUpdate {
  RequestId id = 0;
  int32_t token = 0;
  std::optional<FinishReason> finished;  // set when `token` is the request's last
  bool stop_token = false;               // it finished because `token` is a stop id
};

class Scheduler {
 public:
  // `kv` holds the sequences of running requests only; the scheduler owns that bookkeeping.
  Scheduler(KvCache& kv, SchedulerOptions options);
  const SchedulerOptions& options() const { return options_; }

  // Queues a request (and its siblings). Throws qwen3::Error for an id in use, an empty prompt,
  // max_tokens < 1, or prompt + max_tokens past max_context or past what the whole KV cache holds.
  void add(NewRequest request);
  SchedulePlan schedule();
  // Speculative decoding: tokens to verify in the request's next decode step (when it is decoding,
  // i.e. everything but its last token computed). Capped there by the step's token budget, by
  // max_tokens (no draft past the last token the request may emit) and by the context; consumed by
  // the next schedule(), used or not. Ignored for an unknown or not-decoding request.
  void set_draft(RequestId id, std::vector<int32_t> draft);
  // Running, with everything but its last token computed: the next chunk is one decode step.
  bool is_decoding(RequestId id) const;
  // Advances the requests of `plan` by their chunks and appends the sampled tokens (those of
  // finished requests are skipped). Finished requests are removed (their KV freed). A chunk with
  // drafts: the sampled tokens are the accepted drafts then one more (at least one token); the K/V
  // of the rejected drafts are popped.
  std::vector<RequestUpdate> update_from_output(const SchedulePlan& plan, std::span<const Sampled> sampled);
  // Removes a request wherever it is and frees its KV (cancellation, a stop string, an error).
  // Unknown ids are ignored (the request may have finished already).
  void finish(RequestId id);

  bool contains(RequestId id) const { return requests_.count(id) != 0; }
  std::span<const int32_t> tokens(RequestId id) const;   // prompt + output
  std::span<const int32_t> prompt(RequestId id) const;
  std::span<const int32_t> output(RequestId id) const;
  int64_t num_computed(RequestId id) const;
  bool is_running(RequestId id) const;
  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  size_t num_requests() const { return requests_.size(); }
  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  int64_t num_preemptions() const { return num_preemptions_; }
  // Over every admission that looked the prefix cache up (readmissions too): tokens found, tokens
  // looked up.
  int64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }
  int64_t prefix_lookup_tokens() const { return prefix_lookup_tokens_; }
  std::optional<RequestId> oldest_waiting() const {
    return waiting_.empty() ? std::nullopt : std::optional<RequestId>(waiting_.front()->id);
  }

 private:
  enum class Status { AwaitingParent, Waiting, Running };
  struct Request {
    RequestId id = 0;
    int64_t arrival = 0;              // order of arrival: larger is newer
    Status status = Status::Waiting;
    std::vector<int32_t> tokens;      // prompt + output
    int64_t prompt_len = 0;
    int64_t num_computed = 0;         // tokens whose K/V are in the cache
    int64_t max_tokens = 0;
    std::vector<int32_t> stop_token_ids;
    std::optional<RequestId> fork_parent;  // a sibling to fork from when admitted
    std::vector<RequestId> awaiting;  // siblings that sample from this request's last prompt logits
    bool admitted_before = false;
    std::vector<int32_t> draft;       // set_draft(), for the next decode step
    int64_t output_len() const { return int64_t(tokens.size()) - prompt_len; }
  };
  const Request& get(RequestId id) const;
  void insert_by_arrival(std::vector<Request*>& list, Request* r);
  void preempt(Request& r);
  bool admit(Request& r, int64_t budget, SchedulePlan& plan);
  ScheduledChunk chunk(Request& r, int64_t n, int64_t num_draft = 0);
  void release_awaiting(Request& r);
  void remove(Request& r);

  KvCache& kv_;
  SchedulerOptions options_;
  std::map<RequestId, std::unique_ptr<Request>> requests_;
  std::vector<Request*> waiting_;   // by arrival, oldest first
  std::vector<Request*> running_;   // by arrival, oldest first
  int64_t next_arrival_ = 0;
  int64_t num_preemptions_ = 0;
  int64_t prefix_hit_tokens_ = 0, prefix_lookup_tokens_ = 0;
};

}  // namespace qwen3::engine
