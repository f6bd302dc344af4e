// qwen3 embed / qwen3 rerank: embeddings of texts (a Qwen3-Embedding checkpoint) and relevance
// scores of documents for a query (a Qwen3-Reranker checkpoint), as JSON on stdout in the shapes
// of the server's /v1/embeddings and /v1/rerank (engine/pooling.h has the definitions).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/pooling.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/model_flags.h"
#include "tools/spec_flags.h"

namespace qwen3::tools {
namespace {

struct Opts {
  ModelFlags m;
  std::vector<std::string> texts;
  std::string instruct, query;
  bool instruct_given = false;
  int64_t dimensions = 0, max_batch_tokens = 8192;
  double kv_memory_gib = 1.0;
};

std::unique_ptr<engine::Pooler> make_pooler(const Opts& o, Qwen3Model& model, const Tokenizer& tok, ModelTask task) {
  if (!(o.kv_memory_gib > 0) || o.kv_memory_gib > 1e6) fail("--kv-memory: must be > 0 GiB");
  if (o.max_batch_tokens < 1) fail("--max-batch-tokens: must be >= 1, got {}", o.max_batch_tokens);
  engine::PoolingOptions po;
  po.kv_dtype = kv_dtype(o.m);
  po.max_batch_tokens = o.max_batch_tokens;
  const int64_t page_bytes = kv_page_bytes(model.config(), po.page_size, po.kv_dtype);
  const int64_t context_pages = (model.config().max_context() + po.page_size - 1) / po.page_size;
  const int64_t budget_pages = (std::max(o.max_batch_tokens, model.config().max_context()) + po.page_size - 1) / po.page_size;
  po.kv_pages = std::min<int64_t>(int64_t(o.kv_memory_gib * double(1ull << 30) / double(page_bytes)),
                                  std::max(context_pages, budget_pages));
  if (po.kv_pages < 1) fail("--kv-memory: {} GiB holds no KV page ({} bytes each)", o.kv_memory_gib, page_bytes);
  return std::make_unique<engine::Pooler>(model, tok, task, po);
}

void print(const nlohmann::json& j) { std::printf("%s\n", j.dump().c_str()); }

int run_embed(const Opts& o) {
  if (o.texts.empty()) fail("give at least one TEXT to embed");
  auto model = load_model(o.m, true, /*tensor_parallel=*/false);
  const Tokenizer tok = Tokenizer::load(std::filesystem::path(o.m.model) / "tokenizer.json");
  auto pooler = make_pooler(o, *model, tok, ModelTask::Embed);
  std::vector<std::vector<int32_t>> inputs;
  int64_t tokens = 0;
  for (auto& t : o.texts) {
    if (t.empty()) fail("TEXT: an empty text (argument {})", &t - o.texts.data() + 1);
    inputs.push_back(pooler->embedding_tokens(t, o.instruct));
    tokens += int64_t(inputs.back().size());
  }
  std::vector<std::vector<float>> vecs;
  try {
    vecs = pooler->embed(inputs, o.dimensions);
  } catch (const engine::PoolingInputError& e) {
    fail("{}{}", e.param == "dimensions" ? "--" : "TEXT: ", e.what());
  }
  nlohmann::json data = nlohmann::json::array();
  for (size_t i = 0; i < vecs.size(); ++i)
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", vecs[i]}, {"tokens", inputs[i].size()}});
  print({{"object", "list"}, {"data", data}, {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
  return 0;
}

int run_rerank(const Opts& o) {
  if (o.texts.empty()) fail("give at least one DOC to score");
  auto model = load_model(o.m);
  const Tokenizer tok = Tokenizer::load(std::filesystem::path(o.m.model) / "tokenizer.json");
  auto pooler = make_pooler(o, *model, tok, ModelTask::Rerank);
  const std::string_view instruction = o.instruct_given ? std::string_view(o.instruct) : engine::kDefaultRerankInstruction;
  std::vector<std::vector<int32_t>> prompts;
  int64_t tokens = 0;
  for (auto& d : o.texts) {
    prompts.push_back(pooler->rerank_tokens(o.query, d, instruction));
    tokens += int64_t(prompts.back().size());
  }
  std::vector<double> scores;
  try {
    scores = pooler->rerank(prompts);
  } catch (const engine::PoolingInputError& e) {
    fail("DOC: {}", e.what());
  }
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  nlohmann::json results = nlohmann::json::array();
  for (size_t i : order)
    results.push_back({{"index", i}, {"relevance_score", scores[i]}, {"document", {{"text", o.texts[i]}}}});
  print({{"results", results}, {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
  return 0;
}

void common(CLI::App& app, Opts& o) {
  add_model_flags(app, o.m);
  app.add_option("--kv-memory", o.kv_memory_gib, "KV cache for one batch, in GiB")->capture_default_str();
  app.add_option("--max-batch-tokens", o.max_batch_tokens, "tokens in one forward pass")->capture_default_str();
}

const bool registered_embed = register_command(
    "embed", "Embeddings of texts (Qwen3-Embedding: last token, L2-normalized) as JSON", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      common(app, *o);
      app.add_option("--dimensions", o->dimensions, "keep the first N values, then normalize (Matryoshka; 0: all)")
          ->capture_default_str();
      app.add_option("--instruct", o->instruct, "a query's task: embeds \"Instruct: TEXT\\nQuery:\" + each text");
      app.add_option("texts", o->texts, "texts to embed")->required();
      set_examples(app, {"qwen3 embed --model Qwen/Qwen3-Embedding-0.6B \"The capital of China is Beijing.\"",
                         "qwen3 embed --model DIR --dimensions 256 --instruct \"Given a web search query, retrieve relevant passages\" \"capital of China?\""});
      return [o] { return run_embed(*o); };
    });

const bool registered_rerank = register_command(
    "rerank", "Relevance of documents to a query (Qwen3-Reranker: P(yes)) as JSON, best first", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      common(app, *o);
      app.add_option("--query", o->query, "the query")->required();
      app.add_option("--instruct", o->instruct, "the task (default: the model card's web-search instruction)")
          ->each([o](const std::string&) { o->instruct_given = true; });
      app.add_option("docs", o->texts, "documents to score")->required();
      set_examples(app, {"qwen3 rerank --model Qwen/Qwen3-Reranker-0.6B --query \"capital of China?\" \"Beijing is the capital.\" \"Paris is in France.\""});
      return [o] { return run_rerank(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
