// The options every model-running subcommand shares (--model, --quant, --kv-dtype, --numerics,
// --threads, --quiet), parsed once into typed values.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "model/qwen3_model.h"

namespace qwen3::tools {

struct ModelFlags {
  std::string model;
  std::string quant = "none";     // none | q8 | q4 | fp8
  std::string kv_dtype = "bf16";  // f32 | bf16 | f16 | q8 | q8-head | fp8
  std::string numerics = "exact"; // exact | fast
  std::string head = "auto";      // auto | stored | q8
  int threads = 0;                // 0: one per core
  std::string tp_head = "vocab";  // under mpirun: vocab (split by vocabulary rows) | replicated
  bool quiet = false;             // no progress lines (main applies it to core/progress.h)
};

void add_model_flags(CLI::App& app, ModelFlags& f);

// Typed values; each throws qwen3::Error naming the option when its value is unknown.
LoadOptions load_options(const ModelFlags& f);
KvDType kv_dtype(const ModelFlags& f);

// Sets the thread count and loads the model (with a progress bar while quantizing on a terminal).
// kernel_layout = false keeps quantized weights row-major (LoadOptions::kernel_layout), for tools
// that write them out rather than run them.
// Under `mpirun -n N` (N > 1) the model runs tensor-parallel over the ranks (tools/tp_launch.h)
// unless tensor_parallel is false (a draft model: rank 0 alone runs it).
std::unique_ptr<Qwen3Model> load_model(const ModelFlags& f, bool kernel_layout = true, bool tensor_parallel = true);
// The model flags a subcommand registered with add_model_flags, or nullptr.
const ModelFlags* model_flags_of(const CLI::App* app);

// Adds `flag` (--model, --draft-model) taking a folder or a Hugging Face repo id found in the local
// Hub cache (io/hf_hub_cache.h); the first one added with `revision` also adds `--revision REV` to
// the subcommand (the others take the repo's main revision). add_model_flags uses it for --model.
CLI::Option* add_model_path_option(CLI::App& app, const std::string& flag, std::string& value, const std::string& help,
                                   bool revision);
// Replaces the value of every such option given to `app` by the folder it names; main.cpp calls it
// once parsing is done, before the subcommand runs. Throws qwen3::Error (with how to download a
// missing model).
void resolve_model_paths(const CLI::App* app);

}  // namespace qwen3::tools
