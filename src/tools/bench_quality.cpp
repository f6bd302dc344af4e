#include "tools/bench_quality.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "model/qwen3_model.h"
#include "parallel/communicator.h"
#include "tokenizer/tokenizer.h"
#include "tools/generation.h"

namespace qwen3::tools {

void add_quality_flags(CLI::App& app, QualityOpts& q) {
  app.add_flag("--quality", q.enabled,
               "instead of speed: KL divergence, top-1 agreement and perplexity against the reference setting");
  app.add_option("--text", q.text, "with --quality: text file whose tokens are the stream");
  app.add_option("--tokens", q.tokens, "with --quality: stream length in tokens")->capture_default_str();
  app.add_option("--chunk", q.chunk, "with --quality: tokens per forward")->capture_default_str();
  app.add_option("--ref-kv-dtype", q.ref_kv_dtype, "with --quality: KV dtype of the reference")->capture_default_str();
  app.add_option("--ref-numerics", q.ref_numerics, "with --quality: numerics of the reference")->capture_default_str();
}

namespace {

// log-softmax of a row in double precision.
void log_softmax(std::span<const float> x, std::vector<double>& out) {
  out.resize(x.size());
  double m = -INFINITY;
  for (float v : x) m = std::max(m, double(v));
  double s = 0;
  for (float v : x) s += std::exp(double(v) - m);
  const double lse = m + std::log(s);
  for (size_t i = 0; i < x.size(); ++i) out[i] = double(x[i]) - lse;
}

}  // namespace

void QualityStats::add(std::span<const float> ref, std::span<const float> test, int32_t next) {
  if (ref.size() != test.size() || ref.empty()) fail("quality: logits rows differ in size ({} vs {})", ref.size(), test.size());
  if (next < 0 || size_t(next) >= ref.size()) fail("quality: token {} outside the vocabulary", next);
  static thread_local std::vector<double> lr, lt;
  log_softmax(ref, lr);
  log_softmax(test, lt);
  double kl = 0;
  for (size_t i = 0; i < lr.size(); ++i) kl += std::exp(lr[i]) * (lr[i] - lt[i]);
  kl = std::max(kl, 0.0);  // rounding can give -1e-17 for identical rows
  sum_kl += kl;
  max_kl = std::max(max_kl, kl);
  top1_agree += argmax(ref) == argmax(test);
  nll_ref -= lr[size_t(next)];
  nll_test -= lt[size_t(next)];
  ++positions;
}

double QualityStats::ppl_ref() const { return positions ? std::exp(nll_ref / double(positions)) : 0; }
double QualityStats::ppl_test() const { return positions ? std::exp(nll_test / double(positions)) : 0; }

int run_quality(const ModelFlags& tested, const QualityOpts& q, const std::string& format) {
  if (format != "text" && format != "json") fail("--format: '{}' is not text or json", format);
  if (q.text.empty()) fail("--quality needs --text FILE (the token stream)");
  if (q.tokens < 2) fail("--tokens: must be >= 2, got {}", q.tokens);
  if (q.chunk < 1) fail("--chunk: must be >= 1, got {}", q.chunk);
  ModelFlags ref = tested;
  ref.quant = "none";
  ref.kv_dtype = q.ref_kv_dtype;
  ref.numerics = q.ref_numerics;
  kv_dtype(ref);  // validate the reference options before loading anything
  load_options(ref);

  std::ifstream in(q.text, std::ios::binary);
  if (!in) fail("--text: cannot read '{}'", q.text);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::filesystem::path dir = tested.model;
  const Tokenizer tok = Tokenizer::load(dir / "tokenizer.json");
  std::vector<int32_t> ids = tok.encode(ss.str());
  if (ids.size() < size_t(q.tokens))
    fail("--text: '{}' encodes to {} tokens, fewer than --tokens {}", q.text, ids.size(), q.tokens);
  ids.resize(size_t(q.tokens));

  if (launched_tensor_parallel()) fail("bench --quality runs in one process; run it without mpirun");
  auto ref_model = load_model(ref);
  auto test_model = load_model(tested);
  const Qwen3Config& rc = ref_model->config();
  if (int64_t(ids.size()) > rc.max_context())
    fail("--tokens {} exceeds {} {}", ids.size(), rc.max_context_source(), rc.max_context());
  const int64_t pages = (int64_t(ids.size()) + 15) / 16 + 1;
  KvCache kv_ref(ref_model->kv_options(pages, 16, kv_dtype(ref)));
  KvCache kv_test(test_model->kv_options(pages, 16, kv_dtype(tested)));
  kv_ref.add_sequence(0);
  kv_test.add_sequence(0);

  QualityStats st;
  for (size_t b = 0; b < ids.size(); b += size_t(q.chunk)) {
    const size_t n = std::min(size_t(q.chunk), ids.size() - b);
    const SeqChunk c{0, std::span<const int32_t>(ids).subspan(b, n), LogitsWanted::All};
    const Logits lr = ref_model->forward({&c, 1}, kv_ref);
    const Logits lt = test_model->forward({&c, 1}, kv_test);
    for (size_t i = 0; i < n && b + i + 1 < ids.size(); ++i) st.add(lr.row(i), lt.row(i), ids[b + i + 1]);
  }

  const double change = st.ppl_ref() > 0 ? st.ppl_test() / st.ppl_ref() - 1 : 0;
  if (format == "json") {
    // Keys (stable): model, quant, kv_dtype, numerics, ref {quant, kv_dtype, numerics}, text, tokens,
    // positions, mean_kl, max_kl (nats), top1_agreement (0..1), ppl_ref, ppl, ppl_change (ppl / ppl_ref - 1).
    nlohmann::json j = {{"model", tested.model}, {"quant", tested.quant}, {"kv_dtype", tested.kv_dtype},
                        {"numerics", tested.numerics},
                        {"ref", {{"quant", ref.quant}, {"kv_dtype", ref.kv_dtype}, {"numerics", ref.numerics}}},
                        {"text", q.text}, {"tokens", ids.size()}, {"positions", st.positions},
                        {"mean_kl", st.mean_kl()}, {"max_kl", st.max_kl}, {"top1_agreement", st.agreement()},
                        {"ppl_ref", st.ppl_ref()}, {"ppl", st.ppl_test()}, {"ppl_change", change}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("quality of quant %s, kv %s, numerics %s against quant none, kv %s, numerics %s\n", tested.quant.c_str(),
              tested.kv_dtype.c_str(), tested.numerics.c_str(), ref.kv_dtype.c_str(), ref.numerics.c_str());
  std::printf("stream: first %zu tokens of %s (%lld predicted positions)\n", ids.size(), q.text.c_str(),
              (long long)st.positions);
  std::printf("mean KL(p_ref || p) %.3e nats (max %.3e) | top-1 agreement %.2f%%\n", st.mean_kl(), st.max_kl,
              100 * st.agreement());
  std::printf("perplexity: reference %.4f, tested %.4f (%+.3f%%)\n", st.ppl_ref(), st.ppl_test(), 100 * change);
  return 0;
}

}  // namespace qwen3::tools
