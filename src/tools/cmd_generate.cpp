// qwen3 generate: greedy continuation of a prompt, with prefill and decode speed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/parallel_for.h"
#include "model/qwen3_model.h"
#include "tools/cli_util.h"
#include "tools/command.h"

namespace qwen3::tools {
namespace {

struct Opts {
  std::string model, ids, format = "text";
  int max_tokens = 16;
  int threads = 0;
  bool ignore_eos = false;
};

int32_t argmax(std::span<const float> v) {
  return int32_t(std::max_element(v.begin(), v.end()) - v.begin());  // first maximum, as torch.argmax
}

int run(const Opts& o) {
  if (o.format != "text" && o.format != "json") fail("--format: '{}' is not text or json", o.format);
  if (o.max_tokens < 0) fail("--max-tokens: must be >= 0, got {}", o.max_tokens);
  set_num_threads(o.threads);
  const std::vector<int32_t> prompt = parse_ids(o.ids);
  using clock = std::chrono::steady_clock;
  auto t_load = clock::now();
  auto model = Qwen3Model::load(o.model);
  const double load_s = std::chrono::duration<double>(clock::now() - t_load).count();
  const auto& cfg = model->config();
  // End of sequence as transformers' generate() takes it: generation_config.json, else config.json.
  const GenerationConfig gen = GenerationConfig::load(std::filesystem::path(o.model) / "generation_config.json");
  const std::vector<int64_t> eos = gen.eos_token_ids.empty() ? cfg.eos_token_ids : gen.eos_token_ids;
  const int64_t page = 16;
  // Room for the prompt and the reply, but never past the model's positions.
  const int64_t tokens = std::min<int64_t>(int64_t(prompt.size()) + o.max_tokens, cfg.max_position_embeddings);
  KvCache kv(model->kv_options((tokens + page - 1) / page + 1, int(page)));
  kv.add_sequence(0);

  std::vector<int32_t> out;
  auto t0 = clock::now();
  Logits lg = model->prefill(0, prompt, kv);
  auto t1 = clock::now();
  std::string finish = "length";
  if (o.max_tokens > 0) {
    int32_t next = argmax(lg.row(0));
    for (int i = 0;; ++i) {
      out.push_back(next);
      if (!o.ignore_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
        finish = "stop";
        break;
      }
      if (int(out.size()) >= o.max_tokens) break;
      if (kv.num_tokens(0) + 1 > cfg.max_position_embeddings) break;  // no positions left: "length"
      const SeqId seq = 0;
      lg = model->decode(std::span<const SeqId>(&seq, 1), std::span<const int32_t>(&next, 1), kv);
      next = argmax(lg.row(0));
    }
  }
  auto t2 = clock::now();
  const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
  const double decode_s = std::chrono::duration<double>(t2 - t1).count();
  const int64_t decode_steps = std::max<int64_t>(int64_t(out.size()) - 1, 0);  // the first token comes from prefill
  const double prefill_tps = double(prompt.size()) / prefill_s;
  const double decode_tps = decode_steps > 0 ? double(decode_steps) / decode_s : 0.0;
  if (o.format == "json") {
    nlohmann::json j = {{"ids", out},
                        {"finish_reason", finish},
                        {"prompt_tokens", prompt.size()},
                        {"load_seconds", load_s},
                        {"prefill_tokens_per_second", prefill_tps},
                        {"decode_tokens_per_second", decode_tps},
                        {"threads", num_threads()},
                        {"peak_rss_bytes", peak_rss_bytes()}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? "," : "", out[i]);
    std::printf("\n");
    std::fprintf(stderr,
                 "prompt %zu tokens, generated %zu (%s) | load %.2f s | prefill %.1f tok/s | decode %.2f tok/s | "
                 "%d threads | peak RSS %.0f MiB\n",
                 prompt.size(), out.size(), finish.c_str(), load_s, prefill_tps, decode_tps, num_threads(),
                 double(peak_rss_bytes()) / (1 << 20));
  }
  return 0;
}

const bool registered = register_command(
    "generate", "Greedy generation from token ids, with prefill and decode speed", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      app.add_option("--model", o->model, "model folder")->required();
      app.add_option("--ids", o->ids, "comma-separated prompt token ids")->required();
      app.add_option("--max-tokens", o->max_tokens, "tokens to generate")->capture_default_str();
      app.add_option("--format", o->format, "text | json")->capture_default_str();
      app.add_option("--threads", o->threads, "threads (default: one per core)");
      app.add_flag("--ignore-eos", o->ignore_eos, "keep generating after an end-of-sequence token");
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
