// The engine's core: requests in, tokens out. Schedule -> forward -> sample (or verify drafts) ->
// update, one step per call, on the caller's thread, with no tokenizer, no text and no clock
// (vLLM v1's EngineCore). The Engine (engine.h) runs it on its own thread and turns its tokens into
// text with an OutputProcessor; the CLI runs it directly.
//
//   EngineCore core(model, options);               // optionally with a Proposer: speculative decoding
//   core.add(id, prompt, params);                   // choices id .. id + params->n - 1; validates
//   while (core.has_work())
//     for (const CoreOutput& o : core.step()) ...   // tokens of choice o.id; o.finish on its last
//   core.abort(id);                                 // a choice ends (a stop string, a cancel)
//
// Speculative decoding lives here: before each step the proposer drafts tokens for the sequences
// that decode (as many as DraftLength chooses for each), the scheduler puts them in the sequences'
// decode chunks, one forward pass computes every chunk, and spec/verify.h keeps the drafts the
// target agrees with. Greedy and point-guess outputs are bit for bit those without speculation.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "engine/sampler.h"
#include "engine/sampling_params.h"
#include "engine/scheduler.h"
#include "engine/spec/draft_length.h"
#include "engine/spec/proposer.h"
#include "engine/spec/verify.h"
#include "grammar/grammar.h"
#include "grammar/token_mask.h"
#include "model/qwen3_model.h"

namespace qwen3::engine {

struct CoreOptions {
  int max_batch = 16;                // sequences per step
  int64_t max_batch_tokens = 512;    // tokens per step (prefill chunks, decodes, drafts)
  int64_t decode_prefill_tokens = 0; // SchedulerOptions
  double prefill_waiting_ratio = 2.0;
  int64_t kv_pages = 4096;           // KV cache size in pages
  int page_size = 16;
  KvDType kv_dtype = KvDType::BF16;
  bool prefix_cache = true;
  std::vector<int32_t> eos_token_ids;
  DraftLengthOptions spec;           // with a proposer
  // The tokenizer's vocabulary as bytes, for requests with a grammar constraint (structured output;
  // null: such requests are refused). Its end ids are the ids a grammar allows once its text is
  // complete. The masks of a grammar's states are cached per grammar, up to mask_cache_bytes each.
  std::shared_ptr<const grammar::TokenVocabulary> vocabulary;
  size_t mask_cache_bytes = 64u << 20;
  // Where the core reports a failed forward pass (the choices in it end with FinishReason::Error);
  // may be empty.
  std::function<void(const std::string&)> log;
};

struct TokenInfo {
  int32_t token = 0;
  float logprob = 0;               // when the request asked for logprobs
  std::vector<TokenLogprob> top;   // top_logprobs alternatives
};

// What one choice produced in a step.
struct CoreOutput {
  RequestId id = 0;
  std::vector<TokenInfo> tokens;         // usually one; more when drafts were accepted; none on an error
  std::optional<FinishReason> finish;    // the choice ended (with its last token, if any)
  bool stop_token = false;               // it ended on a stop id (the last token; not part of the text)
  int64_t cached_tokens = 0;             // the request's prompt tokens found in the prefix cache
};

// Cumulative counters (the Engine exports them as metrics; bench prints them).
struct CoreStats {
  uint64_t steps = 0, preemptions = 0;
  uint64_t prefix_hit_tokens = 0, prefix_miss_tokens = 0, prefix_hit_requests = 0, prefix_miss_requests = 0;
  // Speculative decoding: decode steps that verified drafts, tokens drafted and accepted, tokens
  // emitted by those steps; seconds spent proposing and in the forward passes that verified.
  uint64_t spec_verify_steps = 0, spec_drafted = 0, spec_accepted = 0, spec_emitted = 0;
  double draft_seconds = 0, verify_forward_seconds = 0, forward_seconds = 0;
  uint64_t forward_steps = 0, verify_forward_steps = 0;
};

// A request EngineCore::check() accepted. Only such a request can be queued (add), so a request is
// validated once, where it is submitted (the Engine does it on the submitting thread).
class ValidRequest {
 public:
  int64_t prompt_tokens() const { return int64_t(prompt_.size()); }
  const SamplingParams& params() const { return *params_; }

 private:
  friend class EngineCore;
  ValidRequest(std::vector<int32_t> prompt, std::shared_ptr<const SamplingParams> params)
      : prompt_(std::move(prompt)), params_(std::move(params)) {}
  std::vector<int32_t> prompt_;
  std::shared_ptr<const SamplingParams> params_;
};

class EngineCore {
 public:
  EngineCore(Qwen3Model& model, CoreOptions options, std::unique_ptr<Proposer> proposer = nullptr);
  EngineCore(const EngineCore&) = delete;
  EngineCore& operator=(const EngineCore&) = delete;

  // qwen3::Error for an empty prompt, an id outside the vocabulary, prompt + max_tokens past the
  // context, parameters out of range. Thread-safe (reads only the configuration).
  void validate(std::span<const int32_t> prompt, const SamplingParams& params) const;
  ValidRequest check(std::vector<int32_t> prompt, std::shared_ptr<const SamplingParams> params) const {
    validate(prompt, *params);
    return ValidRequest(std::move(prompt), std::move(params));
  }
  // Queues a request with params->n choices, ids id .. id + n - 1 (not in use).
  void add(RequestId id, ValidRequest request);
  void add(RequestId id, std::vector<int32_t> prompt, std::shared_ptr<const SamplingParams> params) {
    add(id, check(std::move(prompt), std::move(params)));
  }
  // Ends one choice now, wherever it is, and frees its pages; nothing more is output for it.
  void abort(RequestId id);
  std::vector<CoreOutput> step();
  bool has_work() const { return scheduler_.has_work(); }

  int64_t max_context() const { return max_context_; }
  const CoreOptions& options() const { return options_; }
  const Scheduler& scheduler() const { return scheduler_; }
  const KvCache& kv() const { return kv_; }
  const CoreStats& stats() const { return stats_; }
  const Proposer* proposer() const { return proposer_.get(); }
  const DraftLength& draft_length() const { return draft_length_; }

 private:
  struct Choice {
    std::shared_ptr<const SamplingParams> params;
    Rng rng, draft_rng;
    int64_t cached_tokens = 0;
    bool first_admitted = false;
    // Structured output: Free before the first token (reasoning may open) or while reasoning,
    // Grammar once the grammar applies (matcher set).
    enum class Phase : uint8_t { Start, Reasoning, Grammar } phase = Phase::Start;
    std::optional<grammar::Matcher> matcher;
  };
  // The token masker of one grammar, shared by the choices that use it (engine thread only).
  struct Masker {
    std::shared_ptr<const grammar::CompiledGrammar> grammar;
    std::shared_ptr<grammar::TokenMasker> masker;
    int users = 0;
  };
  void follow_constraint(RequestId id, Choice& c, int32_t token);
  void propose();
  void note_first_admissions(const SchedulePlan& plan);
  void end(RequestId id);  // forget a choice (scheduler, proposer, draft length)

  Qwen3Model& model_;
  const CoreOptions options_;
  int64_t max_context_ = 0;
  KvCache kv_;
  Scheduler scheduler_;
  std::unique_ptr<Proposer> proposer_;
  DraftLength draft_length_;
  std::unordered_map<RequestId, Choice> choices_;
  std::unordered_map<RequestId, std::vector<RequestId>> groups_;  // request -> its choices
  std::unordered_map<RequestId, Draft> drafts_;  // this step's, by choice
  std::unordered_map<const grammar::CompiledGrammar*, Masker> maskers_;
  std::vector<std::vector<uint32_t>> masks_;     // this step's, by sampling job: a mask per row
  std::vector<std::vector<TokenMask>> mask_rows_;  // views of masks_[j]'s rows
  Logits logits_;
  std::vector<VerifyScratch> scratch_;  // one per sampling thread
  CoreStats stats_;
  double last_draft_seconds_ = 0;
  int last_rounds_ = 0;
};

}  // namespace qwen3::engine
