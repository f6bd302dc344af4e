// qwen3 logits: float32 logits of every position of one prompt, as .npy [T, vocab_size]. With
// several --ids, the prompts run as one ragged batch (one forward pass) and the rows follow one
// another in prompt order: [T1 + T2 + ..., vocab_size] (batch invariance makes each prompt's rows
// the same bits as when it runs alone).
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
  std::vector<std::string> ids;
  std::string out;
  bool force = false;
};

int run(const Opts& o) {
  std::vector<std::vector<int32_t>> prompts;
  for (auto& s : o.ids) prompts.push_back(parse_ids(s));
  check_output_path(o.out, o.force);
  auto model = load_model(o.m);
  const int64_t page = 16;
  int64_t pages = 0;
  for (auto& p : prompts) pages += (int64_t(p.size()) + page - 1) / page;
  KvCache kv(model->kv_options(pages, int(page), kv_dtype(o.m)));
  std::vector<SeqChunk> batch;
  for (size_t i = 0; i < prompts.size(); ++i) {
    kv.add_sequence(SeqId(i));
    batch.push_back({SeqId(i), prompts[i], LogitsWanted::All});
  }
  Logits lg = model->forward(batch, kv);
  write_npy_f32(o.out, lg.data.data(), {int64_t(lg.rows.size()), lg.vocab_size});
  return 0;
}

const bool registered = register_command("logits", "Write float32 logits of every position as .npy [T, vocab_size]",
                                         [](CLI::App& app) {
                                           auto o = std::make_shared<Opts>();
                                           add_model_flags(app, o->m);
                                           app.add_option("--ids", o->ids, "comma-separated token ids; repeat for a batch of prompts")->required();
                                           app.add_option("--out", o->out, "output .npy file")->required();
                                           add_force_flag(app, o->force);
                                           set_examples(app, {"qwen3 logits --model DIR --ids 151644,872,198 --out logits.npy",
                                                              "qwen3 logits --model DIR --ids 1,2,3 --ids 4,5 --out batch.npy --force"});
                                           return [o] { return run(*o); };
                                         });

}  // namespace
}  // namespace qwen3::tools
