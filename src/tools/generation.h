// Generation over the model API, for the CLI (the serving engine with batching is a separate
// layer): greedy or sampled by the engine's sampler (engine/sampler.h), each token streamed to a
// callback as soon as it is chosen.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/engine_core.h"
#include "engine/sampler.h"
#include "model/qwen3_model.h"

namespace qwen3::tools {

// Temperature 0, seed 0: the first maximum of the logits (torch.argmax).
engine::SamplingParams greedy_sampling();

struct GenerationParams {
  int max_tokens = 16;
  std::vector<int32_t> stop_ids;  // generation ends after emitting one of these
  engine::SamplingParams sampling = greedy_sampling();  // its max_tokens and stops are not used here
  std::span<const int32_t> context;  // the tokens before new_tokens in the sequence (repetition_penalty)
  engine::Rng* rng = nullptr;        // the sampler's generator; null: one from sampling.seed (random if none)
};

struct GenerationResult {
  std::vector<int32_t> ids;          // generated ids only (including a final stop id)
  std::string finish_reason = "length";  // "stop" (stop id) | "length" | "cancelled"
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;

  double prefill_tokens_per_second() const { return prefill_seconds > 0 ? double(prompt_tokens) / prefill_seconds : 0; }
  // The first token comes from prefill; decode speed counts the steps after it.
  double decode_tokens_per_second() const {
    return ids.size() > 1 && decode_seconds > 0 ? double(ids.size() - 1) / decode_seconds : 0;
  }
};

// Appends `new_tokens` to sequence `seq` (which must exist in `kv`; it may already hold a prefix,
// params.context) and decodes, greedily or sampled as params.sampling says. `on_token` sees each
// generated id; returning false stops generation ("cancelled"). Throws KvCacheFull when the cache
// cannot hold the prompt plus what is generated.
GenerationResult generate_tokens(Qwen3Model& model, KvCache& kv, SeqId seq, std::span<const int32_t> new_tokens,
                                 const GenerationParams& params, const std::function<bool(int32_t)>& on_token = {});

// The same generation through an EngineCore (one request `id` with `prompt`; speculative when the
// core has a proposer): greedy, the ids, finish reason and text are those of generate_tokens, since
// greedy verification keeps exactly the target's argmax. `params` says how to sample, how many
// tokens (max_tokens, capped so that prompt + output fit the core's context: generate_tokens can
// emit one token more at the very end of the model's max_context(), the core keeps a slot for the
// last token's K/V), ignore_eos and the constraint; the core stops at its eos_token_ids.
// prefill_seconds is the time to the first token, decode_seconds the rest. A forward error
// (FinishReason::Error) throws qwen3::Error; `on_token` returning false aborts the request
// ("cancelled"). `cached_tokens`, when given, receives the prompt tokens found in the core's prefix
// cache.
GenerationResult generate_with_core(engine::EngineCore& core, engine::RequestId id, std::vector<int32_t> prompt,
                                    engine::SamplingParams params, const std::function<bool(int32_t)>& on_token = {},
                                    int64_t* cached_tokens = nullptr);

// CoreOptions for one sequence of up to `tokens` tokens (prompt + output) drafting up to
// `max_k` tokens: KV pages for all of it plus the drafts, the whole prompt in one prefill chunk.
engine::CoreOptions single_sequence_core_options(int64_t tokens, int max_k, KvDType kv_dtype,
                                                 std::vector<int32_t> eos_token_ids);

int32_t argmax(std::span<const float> logits);  // first maximum, as torch.argmax

}  // namespace qwen3::tools
