// qwen3 bench --spec: what speculative decoding buys on this machine. Each repeat generates --gen
// tokens greedily from one prompt (--spec-prompt, tokenized with the target's tokenizer.json; empty:
// 32 pseudo-random ids) through the engine core twice, first without a proposer (the baseline),
// then with one (the same proposer object across repeats; its per-sequence state is released at
// the end of each run). Both ignore end-of-sequence, so both emit exactly --gen tokens. Decode is
// timed from the first token (the prefill step's) to the last. The two id sequences must be equal
// (greedy speculation is lossless); a difference is an error.
//
// Figures (medians over repeats; "step" = one forward pass of the target after the first token):
//   decode_tok_s, baseline_decode_tok_s   (gen - 1) / decode seconds, with and without the proposer;
//   speedup                  decode_tok_s / baseline_decode_tok_s (wall clock, all overheads);
//   acceptance_rate          draft tokens accepted / drafted;
//   tokens_per_verify        tokens emitted per step that verified drafts (accepted + 1);
//   draft_ms_per_step, verify_ms_per_step   seconds proposing, and in the verifying forward passes,
//                            per verifying step (the draft model's prompt catch-up included);
//   predicted_speedup        the speedup the measured acceptance and model costs predict when the
//                            engine's own overhead (sampling, verification, scheduling) is free:
//                              T x b / s, where T = (gen - 1) / steps with speculation (tokens per
//                              step), b = baseline forward seconds per step, s = (draft seconds +
//                              forward seconds) / steps with speculation.
//                            speedup below predicted_speedup is engine overhead, not the model.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "model/qwen3_model.h"
#include "tools/model_flags.h"
#include "tools/spec_flags.h"

namespace qwen3::tools {

struct SpecBenchOpts {
  SpecFlags flags;
  std::string prompt = "The history of the city begins with a small fishing village on the river. The village "
                       "grew into a town, and the town grew into a city, and the city became the capital.";
  bool only = false;  // --spec-only: skip the prefill / decode / batch / depth sections
};

void add_spec_bench_flags(CLI::App& app, SpecBenchOpts& s);

struct SpecBenchResult {
  std::string proposer;
  int k = 0;
  int64_t prompt_tokens = 0;
  double acceptance_rate = 0, tokens_per_verify = 0, draft_ms_per_step = 0, verify_ms_per_step = 0;
  double decode_tok_s = 0, baseline_decode_tok_s = 0, speedup = 0, predicted_speedup = 0;
  bool identical = true;
};

// Runs the repeats (qwen3::Error when the outputs differ, or for a bad prompt / draft).
SpecBenchResult run_spec_bench(Qwen3Model& target, const ModelFlags& m, const SpecBenchOpts& s, int gen, int repeat,
                               uint32_t seed);
nlohmann::json spec_bench_json(const SpecBenchResult& r);
void print_spec_bench_text(const SpecBenchResult& r, const SpecFlags& f);

}  // namespace qwen3::tools
