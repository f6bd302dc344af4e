#include "tools/spec_flags.h"

#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "engine/spec/draft_proposer.h"
#include "engine/spec/ngram_proposer.h"

namespace qwen3::tools {

namespace fs = std::filesystem;

void add_spec_flags(CLI::App& app, SpecFlags& f) {
  app.add_option("--spec", f.spec, "speculative decoding: off, ngram (prompt lookup) or draft (a draft model)")
      ->capture_default_str();
  add_model_path_option(app, "--draft-model", f.draft_model,
                        "draft checkpoint with the target's tokenizer (implies --spec draft); a repo id at its main revision",
                        false);
  app.add_option_function<std::string>(
         "--draft-quant",
         [&f](const std::string& v) {
           f.draft_quant = v;
           f.draft_quant_given = true;
         },
         "quantize the draft on load: none, q8 or q4 (implies --spec draft); without --draft-model the "
         "target itself, quantized, is the draft (self-draft)")
      ->default_str("none");
  app.add_option("--spec-k", f.k, "longest draft in tokens, 1..16")->capture_default_str();
  app.add_flag("--spec-k-fixed", f.fixed_k, "always draft --spec-k tokens (no adaptive draft length)");
}

SpecMode spec_mode(const SpecFlags& f) {
  if (f.draft_quant != "none" && f.draft_quant != "q8" && f.draft_quant != "q4")
    fail("--draft-quant: '{}' is not none, q8 or q4", f.draft_quant);
  const bool draft_flags = !f.draft_model.empty() || f.draft_quant_given;
  SpecMode mode;
  if (f.spec == "off") mode = draft_flags ? SpecMode::Draft : SpecMode::Off;
  else if (f.spec == "ngram") mode = SpecMode::Ngram;
  else if (f.spec == "draft") mode = SpecMode::Draft;
  else fail("--spec: '{}' is not off, ngram or draft", f.spec);
  if (mode == SpecMode::Off) return mode;
  if (f.k < 1 || f.k > 16) fail("--spec-k: must be 1..16, got {}", f.k);
  if (mode == SpecMode::Ngram && draft_flags)
    fail("--draft-model and --draft-quant need --spec draft (the n-gram proposer has no model)");
  if (mode == SpecMode::Draft && f.draft_model.empty() && f.draft_quant == "none")
    fail("--spec draft needs a draft: --draft-model DIR (a smaller model with the same tokenizer), or "
         "--draft-quant q8|q4 to draft with the target itself quantized (self-draft)");
  return mode;
}

std::string proposer_name(const SpecFlags& f) {
  switch (spec_mode(f)) {
    case SpecMode::Off: return "off";
    case SpecMode::Ngram: return "ngram";
    case SpecMode::Draft: return f.draft_model.empty() ? "self-" + f.draft_quant : "draft";
  }
  return "off";
}

engine::DraftLengthOptions draft_length_options(const SpecFlags& f) {
  engine::DraftLengthOptions o;
  o.max_k = f.k;
  o.adaptive = !f.fixed_k;
  return o;
}

int64_t kv_page_bytes(const Qwen3Config& c, int page_size, KvDType kv_dtype) {
  return 2 * c.num_hidden_layers * c.num_key_value_heads * int64_t(page_size) *
         int64_t(kv_head_bytes(kv_dtype, c.head_dim));
}

namespace {
fs::path draft_dir(const SpecFlags& f, const ModelFlags& target_flags) {
  return f.draft_model.empty() ? fs::path(target_flags.model) : fs::path(f.draft_model);
}
}  // namespace

int64_t draft_kv_page_bytes(const SpecFlags& f, const ModelFlags& target_flags, int page_size, KvDType kv_dtype) {
  if (spec_mode(f) != SpecMode::Draft) return 0;
  return kv_page_bytes(Qwen3Config::load(draft_dir(f, target_flags) / "config.json"), page_size, kv_dtype);
}

namespace {
// Refuses a separate draft whose tokenizer differs from the target's or whose embedding table is
// smaller than the tokenizer (draft tokens would be missing rows).
void check_draft(const fs::path& dir, const ModelFlags& target_flags, const Tokenizer* target_tokenizer) {
  const fs::path draft_tok = dir / "tokenizer.json";
  if (!fs::exists(draft_tok))
    fail("--draft-model: {} has no tokenizer.json; the draft must share the target's tokenizer", dir.string());
  std::unique_ptr<Tokenizer> loaded;
  if (!target_tokenizer) {
    const fs::path t = fs::path(target_flags.model) / "tokenizer.json";
    if (!fs::exists(t))
      fail("--draft-model: cannot check the draft's vocabulary: the target {} has no tokenizer.json", target_flags.model);
    loaded = std::make_unique<Tokenizer>(Tokenizer::load(t));
    target_tokenizer = loaded.get();
  }
  const Tokenizer draft = Tokenizer::load(draft_tok);
  const std::string diff = engine::compare_vocabularies(*target_tokenizer, draft);
  if (!diff.empty())
    fail("--draft-model: {} does not share the target's tokenizer: {}", dir.string(), diff);
  const Qwen3Config c = Qwen3Config::load(dir / "config.json");
  if (c.vocab_size < target_tokenizer->vocab_size())
    fail("--draft-model: {} has vocab_size {} in config.json, fewer than the tokenizer's {} tokens", dir.string(),
         c.vocab_size, target_tokenizer->vocab_size());
}
}  // namespace

std::unique_ptr<engine::Proposer> make_proposer(const SpecFlags& f, const ModelFlags& target_flags,
                                                const Qwen3Model& target, const Tokenizer* target_tokenizer,
                                                int64_t draft_kv_pages, int page_size, KvDType kv_dtype) {
  const SpecMode mode = spec_mode(f);
  if (mode == SpecMode::Off) return nullptr;
  if (mode == SpecMode::Ngram) return std::make_unique<engine::NgramProposer>();
  const fs::path dir = draft_dir(f, target_flags);
  if (!f.draft_model.empty()) check_draft(dir, target_flags, target_tokenizer);
  ModelFlags df = target_flags;
  df.model = dir.string();
  df.quant = f.draft_quant;
  auto draft = load_model(df, true, /*tensor_parallel=*/false);  // on rank 0 alone
  engine::DraftModelOptions o;
  o.name = proposer_name(f);
  o.num_pages = draft_kv_pages;
  o.page_size = page_size;
  o.kv_dtype = kv_dtype;
  o.target_vocab = target.config().vocab_size;
  return std::make_unique<engine::DraftModelProposer>(std::move(draft), o);
}

std::string describe_spec(const SpecFlags& f) {
  const SpecMode mode = spec_mode(f);
  if (mode == SpecMode::Off) return "off";
  std::string s = proposer_name(f);
  if (mode == SpecMode::Draft && !f.draft_model.empty())
    s += fmt::format(" {} ({})", f.draft_model, f.draft_quant == "none" ? "stored dtype" : f.draft_quant);
  s += f.fixed_k ? fmt::format(", k = {} (fixed)", f.k) : fmt::format(", k <= {} (adaptive)", f.k);
  return s;
}

}  // namespace qwen3::tools
