#include "tools/generation.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>

#include "core/error.h"

namespace qwen3::tools {

int32_t argmax(std::span<const float> v) { return int32_t(std::max_element(v.begin(), v.end()) - v.begin()); }

engine::SamplingParams greedy_sampling() {
  engine::SamplingParams p;
  p.temperature = 0;
  p.seed = 0;
  return p;
}

namespace {
uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}
}  // namespace

GenerationResult generate_tokens(Qwen3Model& model, KvCache& kv, SeqId seq, std::span<const int32_t> new_tokens,
                                 const GenerationParams& params, const std::function<bool(int32_t)>& on_token) {
  using clock = std::chrono::steady_clock;
  const engine::SamplingParams& sp = params.sampling;
  // Plain greedy needs no sampler (nor its copy of the logits per token).
  const bool argmax_only = sp.temperature == 0 && sp.presence_penalty == 0 && sp.frequency_penalty == 0 &&
                           sp.repetition_penalty == 1 && sp.logit_bias.empty();
  engine::Rng own_rng(sp.seed ? *sp.seed : (argmax_only ? 0 : random_seed()));
  engine::Rng& rng = params.rng ? *params.rng : own_rng;
  engine::SamplerScratch scratch;
  std::vector<int32_t> prompt;  // the whole prompt, for repetition_penalty
  if (sp.repetition_penalty != 1) {
    prompt.assign(params.context.begin(), params.context.end());
    prompt.insert(prompt.end(), new_tokens.begin(), new_tokens.end());
  }
  GenerationResult r;
  auto choose = [&](std::span<const float> logits) {
    return argmax_only ? argmax(logits) : engine::sample(logits, sp, prompt, r.ids, rng, scratch).token;
  };
  r.prompt_tokens = int64_t(new_tokens.size());
  const auto t0 = clock::now();
  Logits lg = model.prefill(seq, new_tokens, kv);
  const auto t1 = clock::now();
  r.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  if (params.max_tokens <= 0) return r;
  int32_t next = choose(lg.row(0));
  for (;;) {
    r.ids.push_back(next);
    if (on_token && !on_token(next)) {
      r.finish_reason = "cancelled";
      break;
    }
    if (std::find(params.stop_ids.begin(), params.stop_ids.end(), next) != params.stop_ids.end()) {
      r.finish_reason = "stop";
      break;
    }
    if (int(r.ids.size()) >= params.max_tokens) break;
    // The model has no positions past max_context(): the output ends there ("length").
    if (kv.num_tokens(seq) + 1 > model.config().max_context()) break;
    lg = model.decode(std::span<const SeqId>(&seq, 1), std::span<const int32_t>(&next, 1), kv);
    next = choose(lg.row(0));
  }
  r.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return r;
}

engine::CoreOptions single_sequence_core_options(int64_t tokens, int max_k, KvDType kv_dtype,
                                                 std::vector<int32_t> eos_token_ids) {
  engine::CoreOptions o;
  o.max_batch = 1;
  o.page_size = 16;
  // The drafts of the last step take up to max_k slots past the last token.
  o.kv_pages = (tokens + max_k + o.page_size - 1) / o.page_size + 1;
  o.max_batch_tokens = std::max<int64_t>(512, tokens + max_k + 1);
  o.kv_dtype = kv_dtype;
  o.eos_token_ids = std::move(eos_token_ids);
  return o;
}

GenerationResult generate_with_core(engine::EngineCore& core, engine::RequestId id, std::vector<int32_t> prompt,
                                    engine::SamplingParams sampling, const std::function<bool(int32_t)>& on_token,
                                    int64_t* cached_tokens) {
  using clock = std::chrono::steady_clock;
  GenerationResult r;
  r.prompt_tokens = int64_t(prompt.size());
  if (cached_tokens) *cached_tokens = 0;
  if (sampling.max_tokens <= 0) return r;
  auto params = std::make_shared<engine::SamplingParams>(std::move(sampling));
  params->max_tokens =
      std::max<int64_t>(1, std::min<int64_t>(params->max_tokens, core.max_context() - int64_t(prompt.size())));
  const auto t0 = clock::now();
  core.add(id, std::move(prompt), params);
  std::optional<clock::time_point> first;
  bool done = false;
  while (!done && core.has_work()) {
    for (const engine::CoreOutput& o : core.step()) {
      if (o.id != id || done) continue;
      if (cached_tokens) *cached_tokens = o.cached_tokens;
      for (const engine::TokenInfo& t : o.tokens) {
        if (!first) first = clock::now();
        r.ids.push_back(t.token);
        if (on_token && !on_token(t.token)) {
          r.finish_reason = "cancelled";
          if (!o.finish) core.abort(id);
          done = true;
          break;
        }
      }
      if (done) break;
      if (o.finish) {
        if (*o.finish == engine::FinishReason::Error) fail("generation failed (a forward pass raised an error)");
        r.finish_reason = engine::finish_reason_name(*o.finish);
        done = true;
      }
    }
  }
  const auto t1 = clock::now();
  if (first) {
    r.prefill_seconds = std::chrono::duration<double>(*first - t0).count();
    r.decode_seconds = std::chrono::duration<double>(t1 - *first).count();
  } else {
    r.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  }
  return r;
}

}  // namespace qwen3::tools
