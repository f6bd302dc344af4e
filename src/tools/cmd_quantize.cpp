// qwen3 quantize: writes a q8 / q4 copy of a bf16 / f16 / f32 checkpoint that loads without
// quantizing again, or an fp8 copy in Hugging Face's FP8 layout (docs/quantization.md).
#include <chrono>
#include <cstdio>
#include <memory>

#include "core/error.h"
#include "model/quantized_checkpoint.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/model_flags.h"

namespace qwen3::tools {
namespace {

struct Opts {
  ModelFlags m;
  std::string out;
  bool force = false;
};

int run(const Opts& o) {
  const LoadOptions lo = load_options(o.m);
  if (lo.quant == Quant::None) fail("--quant: give q8, q4 or fp8");
  check_output_path(o.out, o.force);
  // The written layouts fix the table's format (docs/quantization.md).
  if (lo.head != HeadFormat::Auto) fail("--head: quantize writes the embedding table and head in the layout's own format; leave --head at auto");
  const auto t0 = std::chrono::steady_clock::now();
  auto model = load_model(o.m, /*kernel_layout=*/false);  // written row-major: no repacking
  write_quantized_checkpoint(o.m.model, model->config(), model->weights(), lo.quant, o.out);
  if (o.force) remove_stale_weights(o.out, {"model.safetensors"});
  std::fprintf(stderr, "wrote %s (%.0f MiB of weights, %.1f s)\n", o.out.c_str(),
               double(model->weights().bytes()) / (1 << 20),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

const bool registered = register_command(
    "quantize", "Write a q8 / q4 / fp8 quantized copy of a checkpoint", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      add_model_flags(app, o->m);
      // No default shown for --quant: quantize needs one of the three (ModelFlags' "none" is refused).
      app.get_option("--quant")->description("the format to write: q8, q4 or fp8")->default_str("")->required();
      app.add_option("--out", o->out, "output folder")->required();
      add_force_flag(app, o->force);
      set_examples(app, {"qwen3 quantize --model DIR --quant q8 --out DIR-q8",
                         "qwen3 quantize --model DIR --quant fp8 --out DIR-fp8 --force"});
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
