// qwen3 make-test-model: a checkpoint folder with random weights in the exact Hugging Face layout.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "testing/test_model.h"
#include "tools/cli_util.h"
#include "tools/command.h"

namespace qwen3::tools {
namespace {

struct Opts {
  std::string preset = "tiny", dtype = "bf16", out, override_json, tokenizer_dir, fp8_scale_dtype = "f32";
  bool fp8 = false, force = false, quiet = false;
  uint64_t seed = 0;
  int shards = 1;
};

int run(const Opts& o) {
  check_output_path(o.out, o.force);
  TestModelOptions t;
  t.preset = o.preset;
  t.seed = o.seed;
  auto dt = parse_dtype_name(o.dtype);
  if (!dt) fail("--dtype: '{}' is not one of bf16, f16, f32", o.dtype);
  t.dtype = *dt;
  t.shards = o.shards;
  t.fp8 = o.fp8;
  auto sdt = parse_dtype_name(o.fp8_scale_dtype);
  if (!sdt) fail("--fp8-scale-dtype: '{}' is not one of f32, bf16, f16", o.fp8_scale_dtype);
  t.fp8_scale_dtype = *sdt;
  t.out = o.out;
  t.tokenizer_dir = o.tokenizer_dir;
  if (!o.override_json.empty()) {
    try {
      t.override_config = nlohmann::ordered_json::parse(o.override_json);
    } catch (const nlohmann::json::exception& e) {
      fail("--override: not valid JSON: {}", e.what());
    }
  }
  auto tok = make_test_model(t);
  if (o.force) remove_stale_weights(o.out, weight_file_names(o.shards));
  if (tok.empty()) {
    std::string looked;
    for (auto& d : tokenizer_search_path()) looked += (looked.empty() ? "" : ", ") + d.string();
    std::fprintf(stderr,
                 "qwen3: warning: no tokenizer found (looked for tokenizer.json and tokenizer_config.json in: %s; "
                 "pass --tokenizer-dir, set QWEN3_TOKENIZER_DIR, or run `npm ci` in the source tree); %s has no "
                 "tokenizer.json\n",
                 looked.empty() ? "nowhere" : looked.c_str(), o.out.c_str());
  }
  return 0;
}

const bool registered = register_command(
    "make-test-model", "Write a checkpoint folder with random weights in the Hugging Face Qwen3 layout",
    [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      app.add_option("--preset", o->preset, "tiny | qwen3-embedding-tiny | qwen3-reranker-tiny | qwen3-0.6b | qwen3-1.7b | qwen3-4b | qwen3-8b | qwen3-14b | qwen3-32b")->capture_default_str();
      app.add_option("--seed", o->seed, "random seed")->capture_default_str();
      app.add_option("--dtype", o->dtype, "bf16 | f16 | f32")->capture_default_str();
      app.add_option("--out", o->out, "output folder")->required();
      app.add_option("--shards", o->shards, "number of safetensors files (> 1 writes an index)")->capture_default_str();
      app.add_option("--override", o->override_json, "JSON object merged into the preset's config.json");
      app.add_flag("--fp8", o->fp8,
                   "Hugging Face FP8 layout: decoder linear layers in F8_E4M3 with 128x128 weight_scale_inv blocks");
      app.add_option("--fp8-scale-dtype", o->fp8_scale_dtype, "dtype of weight_scale_inv with --fp8: f32 | bf16 | f16")
          ->capture_default_str();
      app.add_option("--tokenizer-dir", o->tokenizer_dir,
                     "folder with tokenizer.json and tokenizer_config.json to copy (default: $QWEN3_TOKENIZER_DIR, "
                     "then PREFIX/share/qwen3/tokenizer beside the binary)");
      add_force_flag(app, o->force);
      app.add_flag("--quiet", o->quiet, "no progress lines on stderr");
      set_examples(app, {"qwen3 make-test-model --preset tiny --out /tmp/tiny",
                         "qwen3 make-test-model --preset qwen3-0.6b --seed 1 --dtype bf16 --out models/demo",
                         "qwen3 make-test-model --preset tiny --fp8 --shards 2 --out /tmp/tiny-fp8 --force"});
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
