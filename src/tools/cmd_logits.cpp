// qwen3 logits: float32 logits of every position of one prompt, as .npy [T, vocab_size].
#include <memory>

#include "core/parallel_for.h"
#include "io/npy.h"
#include "model/qwen3_model.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/model_flags.h"

namespace qwen3::tools {
namespace {

struct Opts {
  ModelFlags m;
  std::string ids, out;
};

int run(const Opts& o) {
  const std::vector<int32_t> ids = parse_ids(o.ids);
  auto model = load_model(o.m);
  const int64_t page = 16;
  KvCache kv(model->kv_options((int64_t(ids.size()) + page - 1) / page, int(page), kv_dtype(o.m)));
  kv.add_sequence(0);
  const SeqChunk ch{0, ids, LogitsWanted::All};
  Logits lg = model->forward({&ch, 1}, kv);
  write_npy_f32(o.out, lg.data.data(), {int64_t(lg.rows.size()), lg.vocab_size});
  return 0;
}

const bool registered = register_command("logits", "Write float32 logits of every position as .npy [T, vocab_size]",
                                         [](CLI::App& app) {
                                           auto o = std::make_shared<Opts>();
                                           add_model_flags(app, o->m);
                                           app.add_option("--ids", o->ids, "comma-separated token ids")->required();
                                           app.add_option("--out", o->out, "output .npy file")->required();
                                           return [o] { return run(*o); };
                                         });

}  // namespace
}  // namespace qwen3::tools
