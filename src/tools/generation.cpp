#include "tools/generation.h"

#include <algorithm>
#include <chrono>

namespace qwen3::tools {

int32_t argmax(std::span<const float> v) { return int32_t(std::max_element(v.begin(), v.end()) - v.begin()); }

GenerationResult generate_greedy(Qwen3Model& model, KvCache& kv, SeqId seq, std::span<const int32_t> new_tokens,
                                 const GenerationParams& params, const std::function<bool(int32_t)>& on_token) {
  using clock = std::chrono::steady_clock;
  GenerationResult r;
  r.prompt_tokens = int64_t(new_tokens.size());
  const auto t0 = clock::now();
  Logits lg = model.prefill(seq, new_tokens, kv);
  const auto t1 = clock::now();
  r.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  if (params.max_tokens <= 0) return r;
  int32_t next = argmax(lg.row(0));
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
    // The model has no positions past max_position_embeddings: the output ends there ("length").
    if (kv.num_tokens(seq) + 1 > model.config().max_position_embeddings) break;
    lg = model.decode(std::span<const SeqId>(&seq, 1), std::span<const int32_t>(&next, 1), kv);
    next = argmax(lg.row(0));
  }
  r.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return r;
}

}  // namespace qwen3::tools
