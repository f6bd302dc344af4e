#include "tools/model_flags.h"

#include "core/error.h"
#include "core/parallel_for.h"
#include "io/hf_hub_cache.h"
#include "parallel/communicator.h"
#include "tools/tp_launch.h"

#include <list>
#include <map>

namespace qwen3::tools {

namespace {
std::map<const CLI::App*, const ModelFlags*>& flags_registry() {
  static std::map<const CLI::App*, const ModelFlags*> r;
  return r;
}

struct ModelPathOption {
  std::string flag;
  std::string* value;
  bool with_revision;
};
struct ModelPaths {
  std::list<ModelPathOption> options;
  std::string revision;  // --revision, for the options with_revision
  bool has_revision = false;
};
std::map<const CLI::App*, ModelPaths>& paths_registry() {
  static std::map<const CLI::App*, ModelPaths> r;
  return r;
}
}  // namespace

CLI::Option* add_model_path_option(CLI::App& app, const std::string& flag, std::string& value, const std::string& help,
                                   bool revision) {
  ModelPaths& p = paths_registry()[&app];
  p.options.push_back({flag, &value, revision});
  if (revision && !p.has_revision) {
    p.has_revision = true;
    app.add_option("--revision", p.revision,
                   "with a repo id: the branch or tag (read from refs/REV in the Hub cache) or commit hash; default main");
  }
  return app.add_option(flag, value, help + " (a folder, or a Hugging Face repo id such as Qwen/Qwen3-0.6B in the local Hub cache)");
}

void resolve_model_paths(const CLI::App* app) {
  auto it = paths_registry().find(app);
  if (it == paths_registry().end()) return;
  const std::filesystem::path cache = hub_cache_dir();
  for (ModelPathOption& o : it->second.options)
    if (!o.value->empty())
      *o.value = resolve_model_path(*o.value, o.with_revision ? it->second.revision : "", cache, o.flag).string();
}

const ModelFlags* model_flags_of(const CLI::App* app) {
  auto it = flags_registry().find(app);
  return it == flags_registry().end() ? nullptr : it->second;
}

void add_model_flags(CLI::App& app, ModelFlags& f) {
  flags_registry()[&app] = &f;
  add_model_path_option(app, "--model", f.model, "Hugging Face checkpoint", true)->required();
  app.add_option("--quant", f.quant, "quantize weights on load: none, q8, q4 or fp8")->capture_default_str();
  app.add_option("--kv-dtype", f.kv_dtype, "KV cache type: f32, bf16, f16, q8 (int8, a scale per 32 values), q8-head (a scale per head) or fp8 (e4m3, a scale per 32 values)")->capture_default_str();
  app.add_option("--numerics", f.numerics,
                 "exact (float32 activations) or fast (bf16 activations in bf16 matmuls)")
      ->capture_default_str();
  app.add_option("--head", f.head,
                 "embedding table and lm_head: auto (q8 under --quant q8/q4, else as stored), stored or q8")
      ->capture_default_str();
  app.add_option("--threads", f.threads,
                 "worker threads (0: one per core; under mpirun, per rank: 0 shares the cores among the machine's ranks)");
  app.add_option("--tp-head", f.tp_head,
                 "under mpirun: the embedding table and lm_head split by vocabulary over the ranks (vocab) or "
                 "held whole by every rank, the head computed by rank 0 (replicated)")
      ->capture_default_str();
  app.add_flag("--quiet", f.quiet, "no progress lines on stderr while loading (serve: and no log line per request)");
}

LoadOptions load_options(const ModelFlags& f) {
  LoadOptions o;
  if (f.quant == "none") o.quant = Quant::None;
  else if (f.quant == "q8") o.quant = Quant::Q8;
  else if (f.quant == "q4") o.quant = Quant::Q4;
  else if (f.quant == "fp8") o.quant = Quant::Fp8;
  else fail("--quant: '{}' is not none, q8, q4 or fp8", f.quant);
  if (f.numerics == "exact") o.numerics = Numerics::Exact;
  else if (f.numerics == "fast") o.numerics = Numerics::Fast;
  else fail("--numerics: '{}' is not exact or fast", f.numerics);
  if (f.head == "auto") o.head = HeadFormat::Auto;
  else if (f.head == "stored") o.head = HeadFormat::Stored;
  else if (f.head == "q8") o.head = HeadFormat::Q8;
  else fail("--head: '{}' is not auto, stored or q8", f.head);
  if (f.tp_head == "vocab") o.vocab_parallel = true;
  else if (f.tp_head == "replicated") o.vocab_parallel = false;
  else fail("--tp-head: '{}' is not vocab or replicated", f.tp_head);
  return o;
}

KvDType kv_dtype(const ModelFlags& f) {
  auto d = parse_kv_dtype_name(f.kv_dtype);
  if (!d) fail("--kv-dtype: '{}' is not f32, bf16, f16, q8, q8-head or fp8", f.kv_dtype);
  return *d;
}

std::unique_ptr<Qwen3Model> load_model(const ModelFlags& f, bool kernel_layout, bool tensor_parallel) {
  if (f.threads < 0) fail("--threads: must be >= 0, got {}", f.threads);
  LoadOptions opts = load_options(f);
  opts.kernel_layout = kernel_layout;
  kv_dtype(f);  // validate before the (possibly long) load
  set_num_threads(threads_per_rank(f.threads));
  if (tensor_parallel && launched_tensor_parallel()) {
    if (!kernel_layout) fail("this command runs in one process; run it without mpirun");
    return load_tp_model(f, opts);
  }
  return Qwen3Model::load(f.model, opts);
}

}  // namespace qwen3::tools
