// qwen3 logits: float32 logits of every position of one prompt, as .npy [T, vocab_size].
#include <memory>

#include "core/parallel_for.h"
#include "io/npy.h"
#include "model/qwen3_model.h"
#include "tools/cli_util.h"
#include "tools/command.h"

namespace qwen3::tools {
namespace {

struct Opts {
  std::string model, ids, out;
  int threads = 0;
};

int run(const Opts& o) {
  set_num_threads(o.threads);
  const std::vector<int32_t> ids = parse_ids(o.ids);
  auto model = Qwen3Model::load(o.model);
  const int64_t page = 16;
  KvCache kv(model->kv_options((int64_t(ids.size()) + page - 1) / page, int(page)));
  kv.add_sequence(0);
  const SeqChunk ch{0, ids, LogitsWanted::All};
  Logits lg = model->forward({&ch, 1}, kv);
  write_npy_f32(o.out, lg.data.data(), {int64_t(lg.rows.size()), lg.vocab_size});
  return 0;
}

const bool registered = register_command("logits", "Write float32 logits of every position as .npy [T, vocab_size]",
                                         [](CLI::App& app) {
                                           auto o = std::make_shared<Opts>();
                                           app.add_option("--model", o->model, "model folder")->required();
                                           app.add_option("--ids", o->ids, "comma-separated token ids")->required();
                                           app.add_option("--out", o->out, "output .npy file")->required();
                                           app.add_option("--threads", o->threads, "threads (default: one per core)");
                                           return [o] { return run(*o); };
                                         });

}  // namespace
}  // namespace qwen3::tools
