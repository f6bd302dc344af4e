#include "tools/bench_spec.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "engine/engine_core.h"
#include "tokenizer/tokenizer.h"
#include "tools/generation.h"

namespace qwen3::tools {

void add_spec_bench_flags(CLI::App& app, SpecBenchOpts& s) {
  add_spec_flags(app, s.flags);
  app.add_option("--spec-prompt", s.prompt,
                 "with --spec: the prompt, tokenized with the target's tokenizer.json ('' : 32 pseudo-random ids)");
  app.add_flag("--spec-only", s.only, "with --spec: skip the prefill, decode, batch and depth measurements");
}

namespace {

// Lends one proposer to a core per run (the core owns its proposer; the draft model is loaded once).
class LentProposer : public engine::Proposer {
 public:
  explicit LentProposer(engine::Proposer& p) : p_(p) {}
  std::string name() const override { return p_.name(); }
  void propose(std::span<const engine::DraftRequest> reqs, std::vector<engine::Draft>& out) override {
    p_.propose(reqs, out);
  }
  void release(SeqId id) override { p_.release(id); }
  int64_t kv_bytes() const override { return p_.kv_bytes(); }

 private:
  engine::Proposer& p_;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One greedy run; `decode` receives the core's counters from the first token to the end.
struct Run {
  std::vector<int32_t> ids;
  double decode_seconds = 0;
  engine::CoreStats decode;  // differences over the decode steps
};

Run run_once(Qwen3Model& model, const engine::CoreOptions& co, std::unique_ptr<engine::Proposer> proposer,
             const std::vector<int32_t>& prompt, int gen) {
  engine::EngineCore core(model, co, std::move(proposer));
  engine::CoreStats at_first;
  bool first = true;
  engine::SamplingParams greedy = greedy_sampling();
  greedy.max_tokens = gen;
  greedy.ignore_eos = true;
  GenerationResult g = generate_with_core(core, 1, prompt, greedy, [&](int32_t) {
    if (first) at_first = core.stats(), first = false;
    return true;
  });
  const engine::CoreStats& e = core.stats();
  Run r;
  r.ids = std::move(g.ids);
  r.decode_seconds = g.decode_seconds;
  r.decode.forward_steps = e.forward_steps - at_first.forward_steps;
  r.decode.forward_seconds = e.forward_seconds - at_first.forward_seconds;
  r.decode.draft_seconds = e.draft_seconds - at_first.draft_seconds;
  r.decode.verify_forward_seconds = e.verify_forward_seconds - at_first.verify_forward_seconds;
  r.decode.spec_verify_steps = e.spec_verify_steps - at_first.spec_verify_steps;
  r.decode.spec_drafted = e.spec_drafted - at_first.spec_drafted;
  r.decode.spec_accepted = e.spec_accepted - at_first.spec_accepted;
  r.decode.spec_emitted = e.spec_emitted - at_first.spec_emitted;
  return r;
}

std::vector<int32_t> bench_prompt(const std::string& text, const Tokenizer* tok, const ModelFlags& m, int64_t vocab,
                                  uint32_t seed) {
  std::vector<int32_t> ids;
  if (text.empty()) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 32; ++i) ids.push_back(int32_t(rng() % uint64_t(vocab)));
    return ids;
  }
  if (!tok) fail("--spec-prompt: {} has no tokenizer.json (--spec-prompt '' uses pseudo-random ids)", m.model);
  ids = tok->encode(text);
  if (ids.empty()) fail("--spec-prompt: the text encodes to no tokens");
  return ids;
}

}  // namespace

SpecBenchResult run_spec_bench(Qwen3Model& target, const ModelFlags& m, const SpecBenchOpts& s, int gen, int repeat,
                               uint32_t seed) {
  if (gen < 2) fail("--gen: must be >= 2 with --spec (decode is timed after the first token), got {}", gen);
  std::unique_ptr<Tokenizer> tok;
  const std::filesystem::path tj = std::filesystem::path(m.model) / "tokenizer.json";
  if (std::filesystem::exists(tj)) tok = std::make_unique<Tokenizer>(Tokenizer::load(tj));
  const std::vector<int32_t> prompt = bench_prompt(s.prompt, tok.get(), m, target.config().vocab_size, seed);
  const int64_t tokens = int64_t(prompt.size()) + gen;
  const Qwen3Config& tc = target.config();
  if (tokens > tc.max_context())
    fail("--spec-prompt ({} tokens) + --gen {} exceeds {} {}", prompt.size(), gen, tc.max_context_source(),
         tc.max_context());

  engine::CoreOptions co = single_sequence_core_options(tokens, s.flags.k, kv_dtype(m), {});
  co.spec = draft_length_options(s.flags);
  std::unique_ptr<engine::Proposer> proposer =
      make_proposer(s.flags, m, target, tok.get(), co.kv_pages, co.page_size, co.kv_dtype);
  if (!proposer) fail("--spec-only needs --spec ngram or draft");

  SpecBenchResult r;
  r.proposer = proposer->name();
  r.k = s.flags.k;
  r.prompt_tokens = int64_t(prompt.size());
  // Warm-up: workspaces grow and pages fault in, for both models.
  run_once(target, co, nullptr, prompt, 2);
  run_once(target, co, std::make_unique<LentProposer>(*proposer), prompt, std::min(gen, 8));

  std::vector<double> base_tok_s, spec_tok_s, speedup, predicted, accept, per_verify, draft_ms, verify_ms;
  for (int i = 0; i < repeat; ++i) {
    const Run b = run_once(target, co, nullptr, prompt, gen);
    const Run p = run_once(target, co, std::make_unique<LentProposer>(*proposer), prompt, gen);
    if (b.ids != p.ids) {
      size_t at = 0;
      while (at < b.ids.size() && at < p.ids.size() && b.ids[at] == p.ids[at]) ++at;
      fail("speculative decoding ({}) changed the output: generated token {} is {} without it and {} with it",
           r.proposer, at, at < b.ids.size() ? fmt::format("{}", b.ids[at]) : "none",
           at < p.ids.size() ? fmt::format("{}", p.ids[at]) : "none");
    }
    const double decoded = double(gen - 1);
    base_tok_s.push_back(b.decode_seconds > 0 ? decoded / b.decode_seconds : 0);
    spec_tok_s.push_back(p.decode_seconds > 0 ? decoded / p.decode_seconds : 0);
    speedup.push_back(base_tok_s.back() > 0 ? spec_tok_s.back() / base_tok_s.back() : 0);
    const engine::CoreStats& d = p.decode;
    accept.push_back(d.spec_drafted ? double(d.spec_accepted) / double(d.spec_drafted) : 0);
    per_verify.push_back(d.spec_verify_steps ? double(d.spec_emitted) / double(d.spec_verify_steps) : 0);
    draft_ms.push_back(d.spec_verify_steps ? 1e3 * d.draft_seconds / double(d.spec_verify_steps) : 0);
    verify_ms.push_back(d.spec_verify_steps ? 1e3 * d.verify_forward_seconds / double(d.spec_verify_steps) : 0);
    // T x b / s (see the header).
    const double base_step = b.decode.forward_steps ? b.decode.forward_seconds / double(b.decode.forward_steps) : 0;
    const double spec_step =
        d.forward_steps ? (d.draft_seconds + d.forward_seconds) / double(d.forward_steps) : 0;
    const double per_step = d.forward_steps ? decoded / double(d.forward_steps) : 0;
    predicted.push_back(spec_step > 0 ? per_step * base_step / spec_step : 0);
  }
  r.baseline_decode_tok_s = median(base_tok_s);
  r.decode_tok_s = median(spec_tok_s);
  r.speedup = median(speedup);
  r.predicted_speedup = median(predicted);
  r.acceptance_rate = median(accept);
  r.tokens_per_verify = median(per_verify);
  r.draft_ms_per_step = median(draft_ms);
  r.verify_ms_per_step = median(verify_ms);
  return r;
}

nlohmann::json spec_bench_json(const SpecBenchResult& r) {
  return {{"proposer", r.proposer},
          {"k", r.k},
          {"prompt_tokens", r.prompt_tokens},
          {"acceptance_rate", r.acceptance_rate},
          {"tokens_per_verify", r.tokens_per_verify},
          {"draft_ms_per_step", r.draft_ms_per_step},
          {"verify_ms_per_step", r.verify_ms_per_step},
          {"decode_tok_s", r.decode_tok_s},
          {"baseline_decode_tok_s", r.baseline_decode_tok_s},
          {"speedup", r.speedup},
          {"predicted_speedup", r.predicted_speedup},
          {"identical", r.identical}};
}

void print_spec_bench_text(const SpecBenchResult& r, const SpecFlags& f) {
  std::printf("spec %s, prompt %lld tokens\n", describe_spec(f).c_str(), (long long)r.prompt_tokens);
  std::printf("%-26s %10.2f tok/s  vs %.2f tok/s without: speedup %.2fx (predicted %.2fx from the step costs)\n",
              "spec decode (batch 1)", r.decode_tok_s, r.baseline_decode_tok_s, r.speedup, r.predicted_speedup);
  std::printf("%-26s %9.1f%%  | %.2f tokens per verify step | draft %.3f ms + verify %.3f ms per step\n",
              "spec acceptance", 100 * r.acceptance_rate, r.tokens_per_verify, r.draft_ms_per_step,
              r.verify_ms_per_step);
  std::printf("%-26s %s\n", "spec output", r.identical ? "identical to the baseline" : "DIFFERENT");
}

}  // namespace qwen3::tools
