// The engine loop on a tiny test model with a small tokenizer of its own: results equal those of
// the model driven directly, whatever the batch, the chunking, the preemptions and the threads
// submitting. Nothing here needs the npm Qwen3 tokenizer: the test writes a byte-level BPE
// tokenizer.json whose merges build the words of its prompts, and a checkpoint whose
// vocabulary is that tokenizer's (rounded up, like Qwen3's embedding, so some ids have no token).
// (Named EngineLoop* so the ThreadSanitizer run of scripts/test.sh picks them up.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/file_io.h"
#include "engine/engine.h"
#include "engine/generation_defaults.h"
#include "engine/spec/ngram_proposer.h"
#include "testing/test_model.h"

namespace qwen3::engine {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::ordered_json;

// The texts the prompts are made of (prompt_ids, long_prompt).
constexpr const char* kTexts[] = {
    "Request number with some more words in it",
    "You are a careful assistant. Answer briefly and precisely, and say so when unsure. "
    "The following question is about the prefix cache of a serving engine, which keeps the key and value "
    "pages of earlier requests so that a later request with the same beginning skips their prefill. "
    "Question one: what is kept? Question two: what is evicted first? Case"};

// Byte-level BPE as Qwen3's tokenizer.json has it: the 256 bytes as GPT-2's printable characters
// (bytes that print stand for themselves, the others for U+0100 onwards in byte order), then for
// each word of kTexts (with and without its leading space, "Ġ") the merges that build it left to
// right; two special tokens at the end, the end-of-sequence ids.
std::string byte_char(int b) {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int next = 256;
    for (int c = 0; c < 256; ++c) {
      const bool prints = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
      const int cp = prints ? c : next++;
      // UTF-8 of a code point below U+0800.
      t[size_t(c)] = cp < 0x80 ? std::string(1, char(cp)) : std::string{char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
    }
    return t;
  }();
  return table[size_t(b)];
}

std::string small_tokenizer_json() {
  ordered_json vocab = ordered_json::object(), merges = ordered_json::array();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  std::set<std::string> words;
  for (const char* text : kTexts) {
    std::istringstream in(text);
    for (std::string w; in >> w;) {
      while (!w.empty() && !std::isalnum(static_cast<unsigned char>(w.back()))) w.pop_back();
      if (!w.empty()) words.insert(w), words.insert(" " + w);
    }
  }
  for (const std::string& w : words) {
    std::string left = byte_char(static_cast<unsigned char>(w[0]));
    for (size_t i = 1; i < w.size(); ++i) {
      const std::string right = byte_char(static_cast<unsigned char>(w[i]));
      if (!vocab.contains(left + right)) {
        merges.push_back(left + " " + right);
        vocab[left + right] = int(vocab.size());
      }
      left += right;
    }
  }
  ordered_json added = ordered_json::array();
  for (const char* special : {"<|endoftext|>", "<|im_end|>"})
    added.push_back({{"id", int(vocab.size() + added.size())}, {"content", special}, {"single_word", false},
                     {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}});
  const ordered_json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
                                   {"use_regex", false}};
  // Qwen3's pre-tokenizer regex.
  const char* split =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  const ordered_json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", split}}}, {"behavior", "Isolated"}, {"invert", false}},
          byte_level}}}},
      {"decoder", byte_level},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  return j.dump();
}

struct World {
  fs::path dir;
  std::unique_ptr<Qwen3Model> model;
  std::optional<Tokenizer> tok;
  std::vector<int32_t> eos;
};

World& world() {
  static World w = [] {
    World w;
    w.dir = fs::temp_directory_path() / ("qwen3_engine_test_" + std::to_string(::getpid()));
    Tokenizer tok = Tokenizer::from_json(small_tokenizer_json(), "the test's tokenizer.json");
    const int32_t endoftext = *tok.token_to_id("<|endoftext|>"), im_end = *tok.token_to_id("<|im_end|>");
    const fs::path tok_dir = w.dir / "tokenizer";
    fs::create_directories(tok_dir);
    write_file(tok_dir / "tokenizer.json", small_tokenizer_json());
    write_file(tok_dir / "tokenizer_config.json", ordered_json({{"eos_token", "<|im_end|>"}}).dump());
    TestModelOptions o;
    o.preset = "tiny";
    o.seed = 3;
    o.out = w.dir / "model";
    o.tokenizer_dir = tok_dir;
    // Untied: with tied embeddings and a vocabulary this small, greedy decoding repeats one id
    // (each token predicts itself), and outputs that never vary would hide bugs.
    o.override_config = {{"vocab_size", (tok.vocab_size() + 63) / 64 * 64},
                         {"tie_word_embeddings", false},
                         {"bos_token_id", endoftext},
                         {"eos_token_id", im_end}};
    make_test_model(o);
    w.dir = o.out;
    write_file(w.dir / "generation_config.json",
               ordered_json({{"bos_token_id", endoftext}, {"eos_token_id", {im_end, endoftext}}}).dump());
    w.model = Qwen3Model::load(w.dir);
    w.tok.emplace(Tokenizer::load(w.dir / "tokenizer.json"));
    w.eos = end_of_sequence_ids(w.dir, w.model->config());
    std::atexit([] { fs::remove_all(fs::temp_directory_path() / ("qwen3_engine_test_" + std::to_string(::getpid()))); });
    return w;
  }();
  return w;
}

// Greedy tokens straight from the model, one sequence alone, no engine.
std::vector<int32_t> direct_greedy(const std::vector<int32_t>& prompt, int max_tokens) {
  Qwen3Model& m = *world().model;
  KvCache kv(m.kv_options(64));
  kv.add_sequence(0);
  Logits l = m.prefill(0, prompt, kv);
  std::vector<int32_t> out;
  for (int i = 0; i < max_tokens; ++i) {
    auto row = l.row(0);
    const int32_t t = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
    out.push_back(t);
    const SeqId s = 0;
    l = m.decode({&s, 1}, {&t, 1}, kv);
  }
  return out;
}

struct Result {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::string> text;
  std::vector<FinishReason> finish;
  std::vector<std::vector<TokenInfo>> infos;
  int64_t cached = 0;  // prompt tokens served from the prefix cache
};

Result collect(RequestStream& s) {
  Result r;
  r.tokens.resize(size_t(s.n()));
  r.text.resize(size_t(s.n()));
  r.finish.resize(size_t(s.n()), FinishReason::Error);
  r.infos.resize(size_t(s.n()));
  std::vector<ChoiceDelta> ds;
  while (s.wait(ds, 1000ms) != RequestStream::Poll::Done) {
    for (auto& d : ds) {
      for (auto& t : d.tokens) r.tokens[size_t(d.index)].push_back(t.token), r.infos[size_t(d.index)].push_back(t);
      r.text[size_t(d.index)] += d.text;
      if (d.finish) r.finish[size_t(d.index)] = *d.finish;
      r.cached = std::max(r.cached, d.cached_tokens);
    }
    ds.clear();
  }
  return r;
}

std::vector<int32_t> prompt_ids(int k) {
  return world().tok->encode("Request number " + std::to_string(k) + (k % 3 ? " with some more words in it" : ""));
}

SamplingParams greedy(int max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

EngineOptions opts(int max_batch, int64_t budget, int64_t pages) {
  EngineOptions o;
  o.max_batch = max_batch;
  o.max_batch_tokens = budget;
  o.kv_pages = pages;
  o.eos_token_ids = world().eos;
  return o;
}

TEST(EngineLoop, GreedyEqualsTheModelAlone) {
  World& w = world();
  const auto p = prompt_ids(1);
  const auto expect = direct_greedy(p, 12);
  Engine e(*w.model, *w.tok, opts(4, 512, 64));
  Result r = collect(*e.submit(p, greedy(12)));
  EXPECT_EQ(r.tokens[0], expect);
  EXPECT_EQ(r.finish[0], FinishReason::Length);
  std::vector<int32_t> known;
  for (int32_t t : r.tokens[0]) if (w.tok->contains(t)) known.push_back(t);
  EXPECT_EQ(r.text[0], w.tok->decode(known, true));
}

// Many threads submit at once into a small batch with a small token budget (chunked prefill mixed
// with decodes) and a KV cache small enough to preempt: every output equals the solo run.
TEST(EngineLoop, ConcurrentRequestsMatchSoloRuns) {
  World& w = world();
  constexpr int kRequests = 8;
  std::vector<std::vector<int32_t>> expect(kRequests);
  for (int k = 0; k < kRequests; ++k) expect[size_t(k)] = direct_greedy(prompt_ids(k), 6 + k % 3);
  Engine e(*w.model, *w.tok, opts(4, 7, 6));  // token budget 7: prompt chunks mixed with decodes
  std::vector<Result> got(kRequests);
  std::vector<std::thread> threads;
  for (int k = 0; k < kRequests; ++k)
    threads.emplace_back([&, k] { got[size_t(k)] = collect(*e.submit(prompt_ids(k), greedy(6 + k % 3))); });
  for (auto& t : threads) t.join();
  for (int k = 0; k < kRequests; ++k) EXPECT_EQ(got[size_t(k)].tokens[0], expect[size_t(k)]) << "request " << k;
  EXPECT_EQ(e.metrics().finished[int(FinishReason::Length)], uint64_t(kRequests));
}

// The server's decode-first chunking (prompt tokens capped at 3 per step while others decode, a
// burst lifting the cap) with a large budget and a cache small enough to preempt: every output
// still equals the solo run.
TEST(EngineLoop, DecodeFirstChunkingKeepsOutputs) {
  World& w = world();
  constexpr int kRequests = 8;
  std::vector<std::vector<int32_t>> expect(kRequests);
  for (int k = 0; k < kRequests; ++k) expect[size_t(k)] = direct_greedy(prompt_ids(k), 9 + k % 3);
  EngineOptions o = opts(4, 2048, 6);
  o.decode_prefill_tokens = 3;
  o.prefill_waiting_ratio = 2.0;
  Engine e(*w.model, *w.tok, o);
  std::vector<Result> got(kRequests);
  std::vector<std::thread> threads;
  for (int k = 0; k < kRequests; ++k)
    threads.emplace_back([&, k] { got[size_t(k)] = collect(*e.submit(prompt_ids(k), greedy(9 + k % 3))); });
  for (auto& t : threads) t.join();
  for (int k = 0; k < kRequests; ++k) EXPECT_EQ(got[size_t(k)].tokens[0], expect[size_t(k)]) << "request " << k;
  EXPECT_EQ(e.metrics().finished[int(FinishReason::Length)], uint64_t(kRequests));
}

// The same requests submitted at once (submit() does not block, so all are queued within the
// engine's first step): four run together in six pages, which cannot hold them, so requests are
// preempted and recomputed, and still every output equals the solo run.
TEST(EngineLoop, PreemptedRequestsKeepTheirOutput) {
  World& w = world();
  constexpr int kRequests = 6;
  // (The model runs one forward pass at a time: the solo runs come first, not while the engine runs.)
  std::vector<std::vector<int32_t>> expect;
  for (int k = 0; k < kRequests; ++k) expect.push_back(direct_greedy(prompt_ids(k), 14 + k % 3));
  Engine e(*w.model, *w.tok, opts(4, 64, 6));
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int k = 0; k < kRequests; ++k) streams.push_back(e.submit(prompt_ids(k), greedy(14 + k % 3)));
  for (int k = 0; k < kRequests; ++k) EXPECT_EQ(collect(*streams[size_t(k)]).tokens[0], expect[size_t(k)]) << "request " << k;
  EXPECT_GT(e.metrics().preemptions, 0u) << "the cache was meant to be too small for all at once";
}

TEST(EngineLoop, SeededSamplingIgnoresBatchMates) {
  World& w = world();
  SamplingParams p;
  p.temperature = 1.0;
  p.top_k = 50;
  p.seed = 1234;
  p.max_tokens = 10;
  p.ignore_eos = true;
  p.logprobs = true;
  p.top_logprobs = 3;
  Result alone, crowded;
  {
    Engine e(*w.model, *w.tok, opts(8, 512, 64));
    alone = collect(*e.submit(prompt_ids(4), p));
  }
  {
    Engine e(*w.model, *w.tok, opts(8, 512, 64));
    std::vector<std::shared_ptr<RequestStream>> others;
    SamplingParams q = p;
    q.seed.reset();
    for (int k = 0; k < 3; ++k) others.push_back(e.submit(prompt_ids(10 + k), q));
    crowded = collect(*e.submit(prompt_ids(4), p));
    for (auto& o : others) collect(*o);
  }
  EXPECT_EQ(alone.tokens, crowded.tokens);
  ASSERT_EQ(alone.infos[0].size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(alone.infos[0][i].logprob, crowded.infos[0][i].logprob);
    EXPECT_EQ(alone.infos[0][i].top.size(), 3u);
    EXPECT_LE(alone.infos[0][i].logprob, 0.0f);
  }
}

TEST(EngineLoop, ChoicesForkThePrompt) {
  World& w = world();
  const auto expect = direct_greedy(prompt_ids(2), 8);
  Engine e(*w.model, *w.tok, opts(8, 512, 64));
  SamplingParams g = greedy(8);
  g.n = 3;
  Result r = collect(*e.submit(prompt_ids(2), g));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r.tokens[size_t(i)], expect) << "greedy choice " << i;
  SamplingParams s = g;
  s.temperature = 1.0;
  s.seed = 9;
  r = collect(*e.submit(prompt_ids(2), s));
  EXPECT_NE(r.tokens[0], r.tokens[1]);
  EXPECT_NE(r.tokens[1], r.tokens[2]);
}

TEST(EngineLoop, StopStringsEndTheText) {
  World& w = world();
  Engine e(*w.model, *w.tok, opts(4, 512, 64));
  Result full = collect(*e.submit(prompt_ids(5), greedy(24)));
  const std::string& text = full.text[0];
  ASSERT_GT(text.size(), 12u);
  const std::string stop = text.substr(text.size() / 2, 3);
  SamplingParams p = greedy(24);
  p.stop = {stop};
  Result r = collect(*e.submit(prompt_ids(5), p));
  EXPECT_EQ(r.text[0], text.substr(0, text.find(stop)));
  EXPECT_EQ(r.finish[0], FinishReason::Stop);
  // A stop id ends generation (at its first occurrence: the first from index 3 on not generated
  // before) and is not part of the text.
  const std::vector<int32_t>& all = full.tokens[0];
  size_t k = 3;
  while (k < all.size() && std::find(all.begin(), all.begin() + long(k), all[k]) != all.begin() + long(k)) ++k;
  ASSERT_LT(k, all.size()) << "the greedy output was meant to vary";
  p = greedy(24);
  p.stop_token_ids = {all[k]};
  r = collect(*e.submit(prompt_ids(5), p));
  EXPECT_EQ(r.tokens[0], std::vector<int32_t>(all.begin(), all.begin() + long(k) + 1));
  EXPECT_EQ(r.finish[0], FinishReason::Stop);
}

TEST(EngineLoop, SpeculationKeepsTextStopStringsAndTokens) {
  // The output stage sees several tokens per step; a stop string completed by a token in the
  // middle of an accepted draft ends the text (and the tokens) where plain decoding does.
  World& w = world();
  Engine plain(*w.model, *w.tok, opts(4, 512, 64));
  const Result full = collect(*plain.submit(prompt_ids(5), greedy(40)));
  const std::string& text = full.text[0];
  ASSERT_GT(text.size(), 12u);
  std::vector<SamplingParams> ps(3, greedy(40));
  ps[1].stop = {text.substr(text.size() / 3, 2)};
  ps[2].stop = {text.substr(text.size() / 2, 3)};
  ps[2].logprobs = true;
  ps[2].top_logprobs = 2;
  std::vector<Result> expect;
  for (auto& p : ps) expect.push_back(collect(*plain.submit(prompt_ids(5), p)));
  EngineOptions o = opts(4, 512, 64);
  o.spec = {.max_k = 5, .adaptive = false, .probe_every = 16};
  Engine spec(*w.model, *w.tok, o, std::make_unique<NgramProposer>());
  for (size_t i = 0; i < ps.size(); ++i) {
    Result r = collect(*spec.submit(prompt_ids(5), ps[i]));
    EXPECT_EQ(r.text, expect[i].text) << i;
    EXPECT_EQ(r.tokens, expect[i].tokens) << i;
    EXPECT_EQ(r.finish, expect[i].finish) << i;
    for (size_t j = 0; j < r.infos[0].size() && j < expect[i].infos[0].size(); ++j)
      EXPECT_EQ(r.infos[0][j].logprob, expect[i].infos[0][j].logprob);
  }
  EXPECT_GT(spec.metrics().spec_drafted_tokens, 0u);
}

TEST(EngineLoop, CancelFreesPagesAndQueueLimits) {
  World& w = world();
  EngineOptions o = opts(1, 512, 64);
  o.max_queue = 1;
  Engine e(*w.model, *w.tok, o);
  auto a = e.submit(prompt_ids(1), greedy(900));
  auto b = e.submit(prompt_ids(2), greedy(900));
  EXPECT_THROW(e.submit(prompt_ids(3), greedy(4)), QueueFull);
  std::vector<ChoiceDelta> ds;
  while (ds.empty()) a->wait(ds, 1000ms);  // a is generating
  e.cancel(a->id());
  e.cancel(b->id());
  Result ra = collect(*a), rb = collect(*b);
  EXPECT_EQ(ra.finish[0], FinishReason::Cancelled);
  EXPECT_EQ(rb.finish[0], FinishReason::Cancelled);
  for (int i = 0; i < 100 && e.metrics().kv_pages_used != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(e.metrics().kv_pages_used, 0);
  EXPECT_NO_THROW(collect(*e.submit(prompt_ids(3), greedy(2))));
  // Bad requests are refused before they are queued.
  EXPECT_THROW(e.submit({}, greedy(2)), Error);
  EXPECT_THROW(e.submit({1, 2, 999999}, greedy(2)), Error);
  EXPECT_THROW(e.submit(prompt_ids(1), greedy(int(e.max_context()))), Error);
  SamplingParams bad = greedy(2);
  bad.top_p = 0;
  EXPECT_THROW(e.submit(prompt_ids(1), bad), Error);
}

// --- Prefix cache: a request served from cached pages gives bit-identical tokens and logprobs to
// the same request computed cold (batch invariance: a sequence's forward does not depend on how
// its prompt was chunked, nor on what else is in the batch). ---

std::vector<int32_t> long_prompt(const std::string& tail) {
  std::string text = "You are a careful assistant. Answer briefly and precisely, and say so when unsure. ";
  text += "The following question is about the prefix cache of a serving engine, which keeps the key and value ";
  text += "pages of earlier requests so that a later request with the same beginning skips their prefill. " + tail;
  return world().tok->encode(text);
}

SamplingParams greedy_logprobs(int max_tokens) {
  SamplingParams p = greedy(max_tokens);
  p.logprobs = true;
  p.top_logprobs = 3;
  return p;
}

void expect_same(const Result& a, const Result& b, const std::string& what) {
  EXPECT_EQ(a.tokens, b.tokens) << what;
  ASSERT_EQ(a.infos[0].size(), b.infos[0].size()) << what;
  for (size_t i = 0; i < a.infos[0].size(); ++i) {
    EXPECT_EQ(a.infos[0][i].logprob, b.infos[0][i].logprob) << what << ", token " << i;
    ASSERT_EQ(a.infos[0][i].top.size(), b.infos[0][i].top.size());
    for (size_t k = 0; k < a.infos[0][i].top.size(); ++k) {
      EXPECT_EQ(a.infos[0][i].top[k].token, b.infos[0][i].top[k].token) << what;
      EXPECT_EQ(a.infos[0][i].top[k].logprob, b.infos[0][i].top[k].logprob) << what;
    }
  }
}

TEST(EngineLoop, PrefixCacheHitsAreBitIdenticalToColdRuns) {
  World& w = world();
  const auto first = long_prompt("Question one: what is kept?");
  const auto same_start = long_prompt("Question two: what is evicted first?");
  auto mid_page = first;  // diverges in the middle of page 2 (positions 32..47)
  ASSERT_GT(mid_page.size(), 48u);
  mid_page[40] = mid_page[40] == 100 ? 101 : 100;
  const std::vector<std::vector<int32_t>> prompts{first, same_start, mid_page, first};
  std::vector<Result> cold;
  {
    EngineOptions o = opts(4, 512, 64);
    o.prefix_cache = false;
    Engine e(*w.model, *w.tok, o);
    for (auto& p : prompts) cold.push_back(collect(*e.submit(p, greedy_logprobs(8))));
    EXPECT_EQ(cold[3].cached, 0);
    EXPECT_EQ(e.metrics().prefix_hit_tokens, 0u);
  }
  // The first prompt is computed in chunks of 7 tokens (pages are cached as they fill), the later
  // ones start from its pages.
  Engine e(*w.model, *w.tok, opts(4, 7, 64));
  std::vector<Result> warm;
  for (auto& p : prompts) warm.push_back(collect(*e.submit(p, greedy_logprobs(8))));
  size_t common = 0;
  while (first[common] == same_start[common]) ++common;
  const int64_t expect_cached[] = {0, int64_t(common / 16 * 16), 32, int64_t((first.size() - 1) / 16 * 16)};
  for (size_t k = 0; k < prompts.size(); ++k) {
    EXPECT_EQ(warm[k].cached, expect_cached[k]) << "prompt " << k;
    expect_same(cold[k], warm[k], "prompt " + std::to_string(k));
  }
  ASSERT_GE(common, 32u) << "the prompts were meant to share pages";
  const MetricsSnapshot m = e.metrics();
  EXPECT_EQ(m.prefix_hit_requests, 3u);
  EXPECT_EQ(m.prefix_miss_requests, 1u);
  EXPECT_EQ(m.prefix_hit_tokens, uint64_t(expect_cached[1] + expect_cached[2] + expect_cached[3]));
  EXPECT_EQ(m.prefix_hit_tokens + m.prefix_miss_tokens, m.prompt_tokens);
  // Once idle, every page is free or cached.
  for (int i = 0; i < 100 && e.metrics().kv_pages_used != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(e.metrics().kv_pages_used, 0);
  EXPECT_EQ(e.metrics().kv_pages_free + e.metrics().kv_pages_cached, 64);
  EXPECT_GT(e.metrics().kv_pages_cached, 0);
}

// n > 1 and a cache too small for everything: choices fork, requests are preempted and recompute
// (from the cache where their pages survived), cached pages are evicted; every output is the cold one.
TEST(EngineLoop, PrefixCacheUnderPressureKeepsOutputs) {
  World& w = world();
  constexpr int kRequests = 6;
  std::vector<std::vector<int32_t>> prompts;
  for (int k = 0; k < kRequests; ++k) prompts.push_back(long_prompt("Case " + std::to_string(k % 3) + "."));
  std::vector<std::vector<int32_t>> expect;
  for (auto& p : prompts) expect.push_back(direct_greedy(p, 10));
  Engine e(*w.model, *w.tok, opts(4, 32, 12));
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int k = 0; k < kRequests; ++k) {
    SamplingParams g = greedy(10);
    g.n = k % 2 ? 2 : 1;
    streams.push_back(e.submit(prompts[size_t(k)], g));
  }
  for (int k = 0; k < kRequests; ++k) {
    Result r = collect(*streams[size_t(k)]);
    for (auto& t : r.tokens) EXPECT_EQ(t, expect[size_t(k)]) << "request " << k;
  }
  EXPECT_GT(e.metrics().prefix_hit_tokens, 0u);
  for (int i = 0; i < 100 && e.metrics().kv_pages_used != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(e.metrics().kv_pages_free + e.metrics().kv_pages_cached, 12);
}

}  // namespace
}  // namespace qwen3::engine
