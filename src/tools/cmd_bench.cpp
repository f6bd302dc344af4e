// qwen3 bench: model speed on pseudo-random token ids, stated against a ceiling (house rule 12).
// Each repeat measures, in this order (so that a swing of the machine's bandwidth hits all alike):
//   prefill   one forward of --prompt tokens into an empty sequence (tokens/s);
//   decode    batch 1: a 1-token prefill, then --gen steps of one token (tokens/s);
//   batch     --batch sequences, each after a 16-token prefill, --gen steps of one token each through
//             batch_decode (total tokens/s); skipped when --batch < 2;
//   depth     for each --depth D (one value or a comma list, measured in ascending order; a lone 0
//             skips): one sequence is filled up to D tokens (untimed, continuing from the previous
//             depth), then --gen steps of one token (tokens/s), which are popped again.
// Prompts and contexts go through the model in forwards of at most --max-batch-tokens tokens (the
// token budget of serve's steps), so activations never exceed that many rows whatever --prompt or
// --depth; the timed prefill counts all of its forwards. The KV cache is sized for the longest
// sequence, and refused before any work when it does not fit (--kv-memory, else MemAvailable).
// Figures are medians (and min / max) over --repeat repeats. Decode GB/s = bytes read per token
// (every weight once, except an untied embedding table, of which only the looked-up row is read;
// plus the K/V read at the mean depth of the steps) / time per token, against the read bandwidth
// measured at start-up on the same threads (tools/bench_bandwidth.h).
//
// --format json prints one object with these keys (stable; add new ones, never rename):
//   model, quant, kv_dtype, numerics, threads, isa, seed, repeat,
//   prompt_tokens, gen_tokens, batch, depth, max_batch_tokens,
//   prefill_tok_s, decode_tok_s, batch_decode_tok_s, depth_decode_tok_s:
//       {"median", "min", "max"} in tokens/s, or null when skipped;
//   depths: one object per --depth, ascending ([] when skipped): {"depth", "decode_tok_s" (as above),
//       "decode_gb_s", "bandwidth_fraction"}; depth, depth_decode_tok_s, depth_decode_gb_s and
//       depth_bandwidth_fraction repeat the deepest entry (depth 0 and nulls when skipped);
//   max_context              the model's longest sequence (max_position_embeddings, or YaRN's);
//   kv_cache_bytes           the KV cache allocated for the run (K and V, all layers);
//   weight_bytes_per_token   bytes of weights read per decoded token;
//   kv_bytes_per_position    K+V bytes of one position over all layers, as the cache stores them;
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
#include <cmath>
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

constexpr int kPage = 16;  // tokens per KV page

struct Opts {
  ModelFlags m;
  int prompt = 512, gen = 128, batch = 4, repeat = 3;
  std::vector<int64_t> depths{0};  // --depth: sorted ascending by normalize(); {} skips
  int max_batch_tokens = 2048;
  double kv_memory_gib = 0;        // 0: the machine's available memory
  int bandwidth_mib = 1024;
  uint32_t seed = 0;
  std::string format = "text";
  QualityOpts quality;
  SpecBenchOpts spec;

  int64_t deepest() const { return depths.empty() ? 0 : depths.back(); }
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

// Pages of the bench's one KV cache: the longest single sequence (the prefill, the batch-1 decode,
// the deepest depth + its steps) or the batched decode's sequences, whichever needs more.
int64_t kv_pages_needed(const Opts& o) {
  auto pages = [](int64_t tokens) { return (tokens + kPage - 1) / kPage; };
  const int64_t single = pages(std::max<int64_t>({o.prompt, 1 + o.gen, o.deepest() + o.gen}));
  const int64_t batch = o.batch >= 2 ? int64_t(o.batch) * pages(16 + o.gen) : 0;
  return std::max(single, batch);
}

// K+V bytes of one position over all layers as the cache stores them, measured on a one-page
// KvStorage of these options, so that whatever the cache keeps per position (a quantized cache's
// scales) counts.
double kv_bytes_per_position(KvCacheOptions ko) {
  ko.num_pages = 1;
  return double(KvStorage(ko).bytes()) / double(ko.page_size);
}

// Bytes of the checkpoint's weight files: the weights' memory without --quant, more than it with.
double checkpoint_bytes(const std::filesystem::path& dir) {
  double b = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") b += double(e.file_size(ec));
  return b;
}

std::string gib_or_mib(double bytes) {
  return bytes >= double(1 << 30) ? fmt::format("{:.2f} GiB", bytes / double(1 << 30))
                                  : fmt::format("{:.1f} MiB", bytes / double(1 << 20));
}

// Refuses, before the probe and the load, a KV cache that does not fit: in --kv-memory when given,
// else in the memory the machine has available (MemAvailable) beside the weights.
void check_kv_fits(const Opts& o, const Qwen3Config& c) {
  const KvCacheOptions ko{.num_layers = int(c.num_hidden_layers), .num_kv_heads = int(c.num_key_value_heads),
                          .head_dim = int(c.head_dim), .page_size = kPage, .num_pages = 1, .dtype = kv_dtype(o.m)};
  const double per_position = kv_bytes_per_position(ko);
  const int64_t positions = kv_pages_needed(o) * kPage;
  const double need = per_position * double(positions);
  const std::string what =
      fmt::format("the KV cache of {} positions (--depth {} + --gen {}, --prompt {}, --batch {}) x {:.1f} KiB "
                  "(--kv-dtype {}) needs {}",
                  positions, o.deepest(), o.gen, o.prompt, o.batch, per_position / 1024, o.m.kv_dtype, gib_or_mib(need));
  if (o.kv_memory_gib > 0) {
    if (need > o.kv_memory_gib * double(1 << 30)) fail("--kv-memory {} GiB is too small: {}", o.kv_memory_gib, what);
    return;
  }
  const auto available = available_memory_bytes();
  const double weights = checkpoint_bytes(o.m.model);
  if (available && need + weights > double(*available))
    fail("{}, beside about {} of weights, but {} are available (MemAvailable): use a smaller --depth, a smaller "
         "--kv-dtype, or --kv-memory GiB to bound the cache alone",
         what, gib_or_mib(weights), gib_or_mib(double(*available)));
}

class Bench {
 public:
  Bench(Qwen3Model& model, const Opts& o)
      : model_(model), o_(o), rng_(o.seed), kv_(model.kv_options(kv_pages_needed(o), kPage, kv_dtype(o.m))) {}

  int64_t kv_bytes() const { return int64_t(kv_.storage().bytes()); }

  // Communication time so far (tensor parallel): all-reduces alone, and everything.
  std::pair<double, double> comm_seconds() const {
    const Communicator* c = model_.communicator();
    if (!c) return {0, 0};
    const CommStats& st = c->stats();
    return {st.all_reduce_seconds, st.all_reduce_seconds + st.gather_seconds + st.broadcast_seconds};
  }
  std::vector<double> ar_prefill_ms, ar_decode_ms, comm_decode_ms;  // per prefill; per batch-1 decode step

  // tokens/s of the prefill of `prompt` tokens into an empty sequence.
  double prefill() {
    kv_.add_sequence(0);
    const auto ids = random_ids(o_.prompt);
    const auto c0 = comm_seconds();
    const auto t0 = clock_type::now();
    fill(0, ids);
    const double s = seconds_since(t0);
    ar_prefill_ms.push_back(1e3 * (comm_seconds().first - c0.first));
    kv_.remove_sequence(0);
    return o_.prompt / s;
  }

  // tokens/s of `gen` one-token steps of `n` sequences after `context` tokens each (untimed).
  double decode(int n, int64_t context) {
    std::vector<SeqId> seqs(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      seqs[size_t(i)] = i;
      kv_.add_sequence(i);
      fill(i, random_ids(context));
    }
    const auto c0 = comm_seconds();
    const auto t0 = clock_type::now();
    steps(seqs);
    const double s = seconds_since(t0);
    if (n == 1 && context == 1) {
      const auto c1 = comm_seconds();
      ar_decode_ms.push_back(1e3 * (c1.first - c0.first) / o_.gen);
      comm_decode_ms.push_back(1e3 * (c1.second - c0.second) / o_.gen);
    }
    for (SeqId q : seqs) kv_.remove_sequence(q);
    return double(n) * o_.gen / s;
  }

  // tokens/s of `gen` one-token steps at each of o.depths (ascending): one sequence is filled from
  // one depth to the next (untimed), and the steps are popped before it grows on.
  std::vector<double> depth_sweep() {
    const SeqId seq = 0;
    kv_.add_sequence(seq);
    std::vector<double> tok_s;
    for (int64_t d : o_.depths) {
      fill(seq, random_ids(d - kv_.num_tokens(seq)));
      const auto t0 = clock_type::now();
      steps({&seq, 1});
      tok_s.push_back(o_.gen / seconds_since(t0));
      kv_.pop(seq, o_.gen);
    }
    kv_.remove_sequence(seq);
    return tok_s;
  }

 private:
  // Appends `ids` to `seq` in forwards of at most --max-batch-tokens tokens.
  void fill(SeqId seq, std::span<const int32_t> ids) {
    const size_t chunk = size_t(o_.max_batch_tokens);
    for (size_t i = 0; i < ids.size(); i += chunk) model_.prefill(seq, ids.subspan(i, std::min(chunk, ids.size() - i)), kv_);
  }
  // --gen steps of one token for each of `seqs`.
  void steps(std::span<const SeqId> seqs) {
    std::vector<int32_t> step(seqs.size());
    for (int g = 0; g < o_.gen; ++g) {
      for (auto& id : step) id = random_id();
      model_.batch_decode(seqs, step, kv_);
    }
  }
  int32_t random_id() { return int32_t(rng_() % uint64_t(model_.config().vocab_size)); }
  std::vector<int32_t> random_ids(int64_t n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& id : v) id = random_id();
    return v;
  }

  Qwen3Model& model_;
  const Opts& o_;
  std::mt19937_64 rng_;
  KvCache kv_;
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

// Checks the flags against each other and the model; sorts --depth. A lone --depth 0 skips.
void normalize(Opts& o, const Qwen3Config& c) {
  if (o.prompt < 1) fail("--prompt: must be >= 1, got {}", o.prompt);
  if (o.gen < 1) fail("--gen: must be >= 1, got {}", o.gen);
  if (o.batch < 0) fail("--batch: must be >= 0, got {}", o.batch);
  if (o.repeat < 1) fail("--repeat: must be >= 1, got {}", o.repeat);
  if (o.max_batch_tokens < 1) fail("--max-batch-tokens: must be >= 1, got {}", o.max_batch_tokens);
  if (!(o.kv_memory_gib >= 0) || !std::isfinite(o.kv_memory_gib))
    fail("--kv-memory: must be a number of GiB >= 0 (0: the available memory), got {}", o.kv_memory_gib);
  if (o.bandwidth_mib < 0) fail("--bandwidth-mib: must be >= 0, got {}", o.bandwidth_mib);
  if (o.format != "text" && o.format != "json") fail("--format: '{}' is not text or json", o.format);
  if (o.depths.empty()) fail("--depth: give one depth or a comma list, e.g. 0,2048,8192");
  for (int64_t d : o.depths)
    if (d < 0) fail("--depth: must be >= 0, got {}", d);
  std::sort(o.depths.begin(), o.depths.end());
  if (auto it = std::adjacent_find(o.depths.begin(), o.depths.end()); it != o.depths.end())
    fail("--depth: {} is listed twice", *it);
  if (o.depths == std::vector<int64_t>{0}) o.depths.clear();
  const int64_t ctx = c.max_context();
  if (o.prompt > ctx) fail("--prompt {} exceeds {} {}", o.prompt, c.max_context_source(), ctx);
  if (o.deepest() + o.gen > ctx)
    fail("--depth {} + --gen {} = {} positions exceeds {} {}", o.deepest(), o.gen, o.deepest() + o.gen,
         c.max_context_source(), ctx);
  if (16 + o.gen > ctx) fail("--gen {}: 16 + --gen exceeds {} {}", o.gen, c.max_context_source(), ctx);
}

// Everything one bench run reports.
struct DepthResult {
  int64_t depth = 0;
  Stat tok_s;
  double gb_s = 0;
  std::optional<double> frac;
};
struct Results {
  std::optional<Stat> prefill, decode, batch;  // all null with --spec-only
  std::vector<DepthResult> depths;             // ascending
  double wbytes = 0, kv_pos = 0, load_s = 0, rss_mib = 0;
  int64_t kv_bytes = 0;
  std::optional<double> decode_gb, bandwidth, frac;
  std::string isa;
  std::optional<SpecBenchResult> spec;
  int ranks = 1;
  std::optional<double> ar_decode_ms, comm_decode_ms, ar_prefill_ms;  // tensor parallel only
};

void print_json(const Opts& o, const Qwen3Config& c, const Results& r) {
  nlohmann::json depths = nlohmann::json::array();
  for (const DepthResult& d : r.depths)
    depths.push_back({{"depth", d.depth}, {"decode_tok_s", stat_json(d.tok_s)}, {"decode_gb_s", d.gb_s},
                      {"bandwidth_fraction", opt_json(d.frac)}});
  const DepthResult* deepest = r.depths.empty() ? nullptr : &r.depths.back();
  nlohmann::json j = {{"model", o.m.model}, {"quant", o.m.quant}, {"kv_dtype", o.m.kv_dtype},
                      {"numerics", o.m.numerics}, {"threads", num_threads()}, {"isa", r.isa},
                      {"seed", o.seed}, {"repeat", o.repeat},
                      {"prompt_tokens", o.prompt}, {"gen_tokens", o.gen}, {"batch", o.batch},
                      {"depth", deepest ? deepest->depth : 0}, {"max_batch_tokens", o.max_batch_tokens},
                      {"prefill_tok_s", stat_json(r.prefill)}, {"decode_tok_s", stat_json(r.decode)},
                      {"batch_decode_tok_s", stat_json(r.batch)},
                      {"depth_decode_tok_s", deepest ? stat_json(deepest->tok_s) : nullptr}, {"depths", depths},
                      {"weight_bytes_per_token", r.wbytes}, {"kv_bytes_per_position", r.kv_pos},
                      {"max_context", c.max_context()}, {"kv_cache_bytes", r.kv_bytes},
                      {"decode_gb_s", opt_json(r.decode_gb)},
                      {"depth_decode_gb_s", deepest ? nlohmann::json(deepest->gb_s) : nullptr},
                      {"bandwidth_gb_s", opt_json(r.bandwidth)}, {"bandwidth_fraction", opt_json(r.frac)},
                      {"depth_bandwidth_fraction", deepest ? opt_json(deepest->frac) : nullptr},
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
  for (const DepthResult& d : r.depths) line(fmt::format("decode {} at depth {}", o.gen, d.depth), d.tok_s);
  std::printf("weights read per token     %.1f MiB; K/V per position %.1f KiB%s; KV cache %.1f MiB\n",
              r.wbytes / (1 << 20), r.kv_pos / 1024, r.ranks > 1 ? " (per rank)" : "", double(r.kv_bytes) / (1 << 20));
  if (r.ar_decode_ms)
    std::printf("all-reduce per decode step %10.3f ms (all communication %.3f ms); per prefill of %d: %.3f ms\n",
                *r.ar_decode_ms, *r.comm_decode_ms, o.prompt, r.ar_prefill_ms.value_or(0));
  auto bw_line = [&](const std::string& what, double gb, const std::optional<double>& f) {
    if (f) std::printf("%-26s %10.2f GB/s = %.0f%% of the measured %.1f GB/s\n", what.c_str(), gb, 100 * *f, *r.bandwidth);
    else std::printf("%-26s %10.2f GB/s\n", what.c_str(), gb);
  };
  if (r.decode_gb) bw_line("decode reads", *r.decode_gb, r.frac);
  for (const DepthResult& d : r.depths) bw_line(fmt::format("decode reads at depth {}", d.depth), d.gb_s, d.frac);
  if (r.spec) print_spec_bench_text(*r.spec, o.spec.flags);
  std::printf("load %.2f s | peak RSS %.0f MiB\n", r.load_s, r.rss_mib);
}

int run(Opts o) {
  // Cheap checks first, before the probe and the load.
  load_options(o.m);
  kv_dtype(o.m);
  if (o.m.threads < 0) fail("--threads: must be >= 0, got {}", o.m.threads);
  set_num_threads(o.m.threads);
  if (o.quality.enabled) return run_quality(o.m, o.quality, o.format);
  const Qwen3Config config = Qwen3Config::load(std::filesystem::path(o.m.model) / "config.json");
  normalize(o, config);

  const bool speculate = spec_mode(o.spec.flags) != SpecMode::Off;
  if (o.spec.only && !speculate) fail("--spec-only needs --spec ngram or draft");
  if (!o.spec.only) check_kv_fits(o, config);

  Results r;
  if (o.bandwidth_mib > 0 && !o.spec.only) {
    r.bandwidth = measure_read_bandwidth({.buffer_bytes = size_t(o.bandwidth_mib) << 20});
    reset_peak_rss();
  }
  const auto t_load = clock_type::now();
  auto model = load_model(o.m);
  r.load_s = seconds_since(t_load);

  std::vector<std::vector<double>> dep(o.depths.size());  // [depth][repeat]
  if (!o.spec.only) {
    Bench bench(*model, o);
    r.kv_bytes = bench.kv_bytes();
    std::vector<double> pre, dec, bat;
    bench.decode(1, 1);  // warm-up: workspaces grow, pages fault in
    for (int i = 0; i < o.repeat; ++i) {
      pre.push_back(bench.prefill());
      dec.push_back(bench.decode(1, 1));
      if (o.batch >= 2) bat.push_back(bench.decode(o.batch, 16));
      if (!o.depths.empty()) {
        const auto tok_s = bench.depth_sweep();
        for (size_t k = 0; k < tok_s.size(); ++k) dep[k].push_back(tok_s[k]);
      }
    }
    r.prefill = stat_of(pre);
    r.decode = stat_of(dec);
    if (model->tensor_parallel()) {
      r.ar_prefill_ms = stat_of(bench.ar_prefill_ms).median;
      r.ar_decode_ms = stat_of(bench.ar_decode_ms).median;
      r.comm_decode_ms = stat_of(bench.comm_decode_ms).median;
    }
    if (!bat.empty()) r.batch = stat_of(bat);
  }
  if (speculate) r.spec = run_spec_bench(*model, o.m, o.spec, o.gen, o.repeat, o.seed);

  r.wbytes = weight_bytes_per_token(model->weights());
  r.ranks = model->communicator() ? model->communicator()->size() : 1;
  r.kv_pos = kv_bytes_per_position(model->kv_options(1, kPage, kv_dtype(o.m)));
  // Mean depth of the timed steps: context + (gen - 1) / 2 positions already in the cache, plus the new one.
  auto gb_s = [&](double tok_s, double context) { return (r.wbytes + r.kv_pos * (context + 0.5 * (o.gen + 1))) * tok_s / 1e9; };
  auto fraction = [&](double gb) { return r.bandwidth && *r.bandwidth > 0 ? std::optional(gb / *r.bandwidth) : std::nullopt; };
  if (r.decode) {
    r.decode_gb = gb_s(r.decode->median, 1);
    r.frac = fraction(*r.decode_gb);
  }
  for (size_t k = 0; k < dep.size() && !o.spec.only; ++k) {
    const Stat s = stat_of(dep[k]);
    const double gb = gb_s(s.median, double(o.depths[k]));
    r.depths.push_back({.depth = o.depths[k], .tok_s = s, .gb_s = gb, .frac = fraction(gb)});
  }
  r.rss_mib = double(peak_rss_bytes()) / (1 << 20);
  r.isa = std::string(kernels::isa_name(kernels::active_isa()));
  if (o.format == "json") print_json(o, model->config(), r);
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
      app.add_option("--depth", o->depths, "context depths of the depth decode: one or a comma list (a lone 0: skip)")
          ->delimiter(',')
          ->capture_default_str();
      app.add_option("--batch", o->batch, "sequences in the batched decode (< 2: skip)")->capture_default_str();
      app.add_option("--max-batch-tokens", o->max_batch_tokens, "most tokens per forward when filling a prompt or context")
          ->capture_default_str();
      app.add_option("--kv-memory", o->kv_memory_gib, "GiB the KV cache may take (0: what the machine has available)")
          ->capture_default_str();
      app.add_option("--repeat", o->repeat, "repeats; figures are medians")->capture_default_str();
      app.add_option("--seed", o->seed, "seed of the pseudo-random token ids")->capture_default_str();
      app.add_option("--bandwidth-mib", o->bandwidth_mib, "buffer of the read-bandwidth probe (0: skip the probe)")
          ->capture_default_str();
      app.add_option("--format", o->format, "text | json")->capture_default_str();
      add_quality_flags(app, o->quality);
      add_spec_bench_flags(app, o->spec);
      set_examples(app, {"qwen3 bench --model DIR",
                         "qwen3 bench --model DIR --quant q4 --prompt 512 --gen 128 --format json",
                         "qwen3 bench --model DIR --prompt 8192 --depth 0,2048,8192,16384,32768 --gen 64",
                         "qwen3 bench --model DIR --quality --quant q8",
                         "qwen3 bench --model DIR --spec ngram --spec-only"});
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
