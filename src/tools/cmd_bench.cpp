// qwen3 bench: model speed on pseudo-random token ids, stated against a ceiling (house rule 12).
// Each repeat measures, in this order (so that a swing of the machine's bandwidth hits all alike):
//   prefill   one forward of --prompt tokens into an empty sequence (tokens/s);
//   decode    batch 1: a 1-token prefill, then --gen steps of one token (tokens/s);
//   batch     --batch sequences, each after a 16-token prefill, --gen steps of one token each through
//             batch_decode (total tokens/s); skipped when --batch < 2;
//   depth     --depth tokens prefilled (untimed), then --gen steps of one token; skipped when 0.
// Figures are medians (and min / max) over --repeat repeats. Decode GB/s = bytes read per token
// (every weight once, except an untied embedding table, of which only the looked-up row is read;
// plus the K/V read at the mean depth of the steps) / time per token, against the read bandwidth
// measured at start-up on the same threads (tools/bench_bandwidth.h).
//
// --format json prints one object with these keys (stable; add new ones, never rename):
//   model, quant, kv_dtype, numerics, threads, isa, seed, repeat,
//   prompt_tokens, gen_tokens, batch, depth,
//   prefill_tok_s, decode_tok_s, batch_decode_tok_s, depth_decode_tok_s:
//       {"median", "min", "max"} in tokens/s, or null when skipped;
//   weight_bytes_per_token   bytes of weights read per decoded token;
//   kv_bytes_per_position    K+V bytes of one position over all layers;
//   decode_gb_s, depth_decode_gb_s   achieved read GB/s at the median (null when skipped);
//   bandwidth_gb_s           measured read bandwidth (null with --bandwidth-mib 0);
//   bandwidth_fraction, depth_bandwidth_fraction   the two GB/s over bandwidth_gb_s (or null);
//   load_s                   model load time in seconds; peak_rss_mib (after the bandwidth probe
//                            buffer is freed, the peak is reset where Linux allows: see below).
// With --spec (tools/bench_spec.h): speculative against plain greedy decoding, and the key
//   spec: {"proposer", "k", "prompt_tokens", "acceptance_rate", "tokens_per_verify",
//          "draft_ms_per_step", "verify_ms_per_step", "decode_tok_s", "baseline_decode_tok_s",
//          "speedup", "predicted_speedup", "identical"};
// --spec-only skips the other measurements (and the bandwidth probe): their keys are then null.
// Under mpirun (tensor parallelism, docs/parallel.md) the figures are the job's, seen from rank 0:
//   ranks                     number of ranks (1 without mpirun);
//   weight_bytes_per_token and kv_bytes_per_position are per rank (each rank reads its slice);
//   allreduce_ms_per_decode_step, comm_ms_per_decode_step: rank 0's time in all-reduces, and in
//       all of the step's communication (the step broadcast, all-reduces, the logits gather), per
//       batch-1 decode step (median over repeats); allreduce_ms_per_prefill: per --prompt prefill.
//       They include waiting for the slowest rank. null with one rank.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"
#include "model/qwen3_model.h"
#include "tools/bench_bandwidth.h"
#include "tools/bench_quality.h"
#include "tools/bench_spec.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/model_flags.h"

namespace qwen3::tools {
namespace {

struct Opts {
  ModelFlags m;
  int prompt = 512, gen = 128, depth = 0, batch = 4, repeat = 3;
  int bandwidth_mib = 1024;
  uint32_t seed = 0;
  std::string format = "text";
  QualityOpts quality;
  SpecBenchOpts spec;
};

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct Stat {
  double median = 0, min = 0, max = 0;
};
Stat stat_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.front(), v.back()};
}

class Bench {
 public:
  Bench(Qwen3Model& model, const Opts& o) : model_(model), o_(o), rng_(o.seed) {
    const int64_t page = 16;
    const int64_t short_prefill = 16;
    const int64_t per_seq = std::max<int64_t>({o.prompt, 1 + o.gen, int64_t(o.depth) + o.gen});
    const int64_t pages_single = (per_seq + page - 1) / page + 1;
    const int64_t pages_batch = o.batch >= 2 ? int64_t(o.batch) * ((short_prefill + o.gen + page - 1) / page + 1) : 0;
    kv_ = std::make_unique<KvCache>(model.kv_options(std::max(pages_single, pages_batch), int(page), kv_dtype(o.m)));
  }

  // Communication time so far (tensor parallel): all-reduces alone, and everything.
  std::pair<double, double> comm_seconds() const {
    const Communicator* c = model_.communicator();
    if (!c) return {0, 0};
    const CommStats& st = c->stats();
    return {st.all_reduce_seconds, st.all_reduce_seconds + st.gather_seconds + st.broadcast_seconds};
  }
  std::vector<double> ar_prefill_ms, ar_decode_ms, comm_decode_ms;  // per prefill; per batch-1 decode step

  // tokens/s of one forward of `prompt` tokens.
  double prefill() {
    kv_->add_sequence(0);
    const auto ids = random_ids(o_.prompt);
    const auto c0 = comm_seconds();
    const auto t0 = clock_type::now();
    model_.prefill(0, ids, *kv_);
    const double s = seconds_since(t0);
    ar_prefill_ms.push_back(1e3 * (comm_seconds().first - c0.first));
    kv_->remove_sequence(0);
    return o_.prompt / s;
  }

  // tokens/s of `gen` one-token steps of `n` sequences after `context` tokens each (untimed).
  double decode(int n, int64_t context) {
    std::vector<SeqId> seqs(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      seqs[size_t(i)] = i;
      kv_->add_sequence(i);
      if (context > 0) model_.prefill(i, random_ids(context), *kv_);
    }
    std::vector<int32_t> step(static_cast<size_t>(n));
    const auto c0 = comm_seconds();
    const auto t0 = clock_type::now();
    for (int g = 0; g < o_.gen; ++g) {
      for (auto& id : step) id = random_id();
      model_.batch_decode(seqs, step, *kv_);
    }
    const double s = seconds_since(t0);
    if (n == 1 && context == 1) {
      const auto c1 = comm_seconds();
      ar_decode_ms.push_back(1e3 * (c1.first - c0.first) / o_.gen);
      comm_decode_ms.push_back(1e3 * (c1.second - c0.second) / o_.gen);
    }
    for (SeqId q : seqs) kv_->remove_sequence(q);
    return double(n) * o_.gen / s;
  }

 private:
  int32_t random_id() { return int32_t(rng_() % uint64_t(model_.config().vocab_size)); }
  std::vector<int32_t> random_ids(int64_t n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& id : v) id = random_id();
    return v;
  }

  Qwen3Model& model_;
  const Opts& o_;
  std::mt19937_64 rng_;
  std::unique_ptr<KvCache> kv_;
};

// Bytes of weights one decoded token reads (see the header comment).
double weight_bytes_per_token(const Qwen3Weights& w) {
  double b = 0;
  auto linear = [&](const Linear& l) { b += double(l.weight.size() + l.scales.size()); };
  for (const auto& l : w.layers) {
    for (const Linear* m : {&l.qkv, &l.o_proj, &l.gate_up, &l.down}) linear(*m);
    b += 4.0 * double(l.input_layernorm.size() + l.post_attention_layernorm.size() + l.q_norm.size() + l.k_norm.size());
  }
  b += 4.0 * double(w.norm.size());
  if (w.lm_head) {
    linear(*w.lm_head);
    const Linear& e = w.embed_tokens;
    b += double(e.weight.size() + e.scales.size()) / double(std::max<int64_t>(1, e.out));  // one row
  } else {
    linear(w.embed_tokens);
  }
  return b;
}

// Linux: writing 5 to clear_refs resets VmHWM to the current RSS (so the probe buffer does not count).
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
}

nlohmann::json stat_json(const std::optional<Stat>& s) {
  if (!s) return nullptr;
  return {{"median", s->median}, {"min", s->min}, {"max", s->max}};
}
nlohmann::json opt_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

void validate(const Opts& o, const Qwen3Config& c) {
  if (o.prompt < 1) fail("--prompt: must be >= 1, got {}", o.prompt);
  if (o.gen < 1) fail("--gen: must be >= 1, got {}", o.gen);
  if (o.depth < 0) fail("--depth: must be >= 0, got {}", o.depth);
  if (o.batch < 0) fail("--batch: must be >= 0, got {}", o.batch);
  if (o.repeat < 1) fail("--repeat: must be >= 1, got {}", o.repeat);
  if (o.bandwidth_mib < 0) fail("--bandwidth-mib: must be >= 0, got {}", o.bandwidth_mib);
  if (o.format != "text" && o.format != "json") fail("--format: '{}' is not text or json", o.format);
  const int64_t longest = std::max<int64_t>({o.prompt, 1 + o.gen, int64_t(o.depth) + o.gen, 16 + o.gen});
  if (longest > c.max_position_embeddings)
    fail("a sequence of {} tokens (--prompt, --depth + --gen) exceeds max_position_embeddings {}", longest,
         c.max_position_embeddings);
}

// Everything one bench run reports.
struct Results {
  std::optional<Stat> prefill, decode, batch, depth;  // all null with --spec-only
  double wbytes = 0, kv_pos = 0, load_s = 0, rss_mib = 0;
  std::optional<double> decode_gb, depth_gb, bandwidth, frac, depth_frac;
  std::string isa;
  std::optional<SpecBenchResult> spec;
  int ranks = 1;
  std::optional<double> ar_decode_ms, comm_decode_ms, ar_prefill_ms;  // tensor parallel only
};

void print_json(const Opts& o, const Results& r) {
  nlohmann::json j = {{"model", o.m.model}, {"quant", o.m.quant}, {"kv_dtype", o.m.kv_dtype},
                      {"numerics", o.m.numerics}, {"threads", num_threads()}, {"isa", r.isa},
                      {"seed", o.seed}, {"repeat", o.repeat},
                      {"prompt_tokens", o.prompt}, {"gen_tokens", o.gen}, {"batch", o.batch}, {"depth", o.depth},
                      {"prefill_tok_s", stat_json(r.prefill)}, {"decode_tok_s", stat_json(r.decode)},
                      {"batch_decode_tok_s", stat_json(r.batch)}, {"depth_decode_tok_s", stat_json(r.depth)},
                      {"weight_bytes_per_token", r.wbytes}, {"kv_bytes_per_position", r.kv_pos},
                      {"decode_gb_s", opt_json(r.decode_gb)}, {"depth_decode_gb_s", opt_json(r.depth_gb)},
                      {"bandwidth_gb_s", opt_json(r.bandwidth)}, {"bandwidth_fraction", opt_json(r.frac)},
                      {"depth_bandwidth_fraction", opt_json(r.depth_frac)},
                      {"load_s", r.load_s}, {"peak_rss_mib", r.rss_mib}, {"ranks", r.ranks},
                      {"allreduce_ms_per_decode_step", opt_json(r.ar_decode_ms)},
                      {"comm_ms_per_decode_step", opt_json(r.comm_decode_ms)},
                      {"allreduce_ms_per_prefill", opt_json(r.ar_prefill_ms)}};
  if (r.spec) j["spec"] = spec_bench_json(*r.spec);
  std::printf("%s\n", j.dump().c_str());
}

void print_text(const Opts& o, const Results& r) {
  std::printf("model %s | quant %s | kv %s | numerics %s | %d threads%s | isa %s\n", o.m.model.c_str(),
              o.m.quant.c_str(), o.m.kv_dtype.c_str(), o.m.numerics.c_str(), num_threads(),
              r.ranks > 1 ? fmt::format(" per rank x {} ranks", r.ranks).c_str() : "", r.isa.c_str());
  auto line = [&](const std::string& what, const Stat& s) {
    std::printf("%-26s %10.2f tok/s  (min %.2f, max %.2f, %d repeats)\n", what.c_str(), s.median, s.min, s.max,
                o.repeat);
  };
  if (r.prefill) line(fmt::format("prefill {}", o.prompt), *r.prefill);
  if (r.decode) line(fmt::format("decode {} (batch 1)", o.gen), *r.decode);
  if (r.batch) line(fmt::format("decode {} (batch {})", o.gen, o.batch), *r.batch);
  if (r.depth) line(fmt::format("decode {} at depth {}", o.gen, o.depth), *r.depth);
  std::printf("weights read per token     %.1f MiB; K/V per position %.1f KiB%s\n", r.wbytes / (1 << 20),
              r.kv_pos / 1024, r.ranks > 1 ? " (per rank)" : "");
  if (r.ar_decode_ms)
    std::printf("all-reduce per decode step %10.3f ms (all communication %.3f ms); per prefill of %d: %.3f ms\n",
                *r.ar_decode_ms, *r.comm_decode_ms, o.prompt, r.ar_prefill_ms.value_or(0));
  auto bw_line = [&](const std::string& what, double gb, const std::optional<double>& f) {
    if (f) std::printf("%-26s %10.2f GB/s = %.0f%% of the measured %.1f GB/s\n", what.c_str(), gb, 100 * *f, *r.bandwidth);
    else std::printf("%-26s %10.2f GB/s\n", what.c_str(), gb);
  };
  if (r.decode_gb) bw_line("decode reads", *r.decode_gb, r.frac);
  if (r.depth_gb) bw_line(fmt::format("decode reads at depth {}", o.depth), *r.depth_gb, r.depth_frac);
  if (r.spec) print_spec_bench_text(*r.spec, o.spec.flags);
  std::printf("load %.2f s | peak RSS %.0f MiB\n", r.load_s, r.rss_mib);
}

int run(const Opts& o) {
  // Cheap checks first, before the probe and the load.
  load_options(o.m);
  kv_dtype(o.m);
  if (o.m.threads < 0) fail("--threads: must be >= 0, got {}", o.m.threads);
  set_num_threads(o.m.threads);
  if (o.quality.enabled) return run_quality(o.m, o.quality, o.format);
  const Qwen3Config config = Qwen3Config::load(std::filesystem::path(o.m.model) / "config.json");
  validate(o, config);

  const bool speculate = spec_mode(o.spec.flags) != SpecMode::Off;
  if (o.spec.only && !speculate) fail("--spec-only needs --spec ngram or draft");

  Results r;
  if (o.bandwidth_mib > 0 && !o.spec.only) {
    r.bandwidth = measure_read_bandwidth({.buffer_bytes = size_t(o.bandwidth_mib) << 20});
    reset_peak_rss();
  }
  const auto t_load = clock_type::now();
  auto model = load_model(o.m);
  r.load_s = seconds_since(t_load);

  if (!o.spec.only) {
    Bench bench(*model, o);
    std::vector<double> pre, dec, bat, dep;
    bench.decode(1, 1);  // warm-up: workspaces grow, pages fault in
    for (int i = 0; i < o.repeat; ++i) {
      pre.push_back(bench.prefill());
      dec.push_back(bench.decode(1, 1));
      if (o.batch >= 2) bat.push_back(bench.decode(o.batch, 16));
      if (o.depth > 0) dep.push_back(bench.decode(1, o.depth));
    }
    r.prefill = stat_of(pre);
    r.decode = stat_of(dec);
    if (model->tensor_parallel()) {
      r.ar_prefill_ms = stat_of(bench.ar_prefill_ms).median;
      r.ar_decode_ms = stat_of(bench.ar_decode_ms).median;
      r.comm_decode_ms = stat_of(bench.comm_decode_ms).median;
    }
    if (!bat.empty()) r.batch = stat_of(bat);
    if (!dep.empty()) r.depth = stat_of(dep);
  }
  if (speculate) r.spec = run_spec_bench(*model, o.m, o.spec, o.gen, o.repeat, o.seed);

  const Qwen3Config& c = model->config();
  r.wbytes = weight_bytes_per_token(model->weights());
  r.ranks = model->communicator() ? model->communicator()->size() : 1;
  r.kv_pos = 2.0 * double(c.num_hidden_layers * model->kv_options(1).num_kv_heads) *
             double(kv_head_bytes(kv_dtype(o.m), c.head_dim));
  // Mean depth of the timed steps: context + (gen - 1) / 2 positions already in the cache, plus the new one.
  auto gb_s = [&](double tok_s, double context) { return (r.wbytes + r.kv_pos * (context + 0.5 * (o.gen + 1))) * tok_s / 1e9; };
  if (r.decode) r.decode_gb = gb_s(r.decode->median, 1);
  if (r.depth) r.depth_gb = gb_s(r.depth->median, o.depth);
  if (r.bandwidth && *r.bandwidth > 0) {
    if (r.decode_gb) r.frac = *r.decode_gb / *r.bandwidth;
    if (r.depth_gb) r.depth_frac = *r.depth_gb / *r.bandwidth;
  }
  r.rss_mib = double(peak_rss_bytes()) / (1 << 20);
  r.isa = std::string(kernels::isa_name(kernels::active_isa()));
  if (o.format == "json") print_json(o, r);
  else print_text(o, r);
  return 0;
}

const bool registered = register_command(
    "bench", "Prefill and decode speed, GB/s against the measured bandwidth; --quality for quantization error",
    [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      add_model_flags(app, o->m);
      app.add_option("--prompt", o->prompt, "prefill tokens")->capture_default_str();
      app.add_option("--gen", o->gen, "decode steps")->capture_default_str();
      app.add_option("--depth", o->depth, "context depth for the depth decode (0: skip)")->capture_default_str();
      app.add_option("--batch", o->batch, "sequences in the batched decode (< 2: skip)")->capture_default_str();
      app.add_option("--repeat", o->repeat, "repeats; figures are medians")->capture_default_str();
      app.add_option("--seed", o->seed, "seed of the pseudo-random token ids")->capture_default_str();
      app.add_option("--bandwidth-mib", o->bandwidth_mib, "buffer of the read-bandwidth probe (0: skip the probe)")
          ->capture_default_str();
      app.add_option("--format", o->format, "text | json")->capture_default_str();
      add_quality_flags(app, o->quality);
      add_spec_bench_flags(app, o->spec);
      set_examples(app, {"qwen3 bench --model DIR",
                         "qwen3 bench --model DIR --quant q4 --prompt 512 --gen 128 --format json",
                         "qwen3 bench --model DIR --quality --quant q8",
                         "qwen3 bench --model DIR --spec ngram --spec-only"});
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
