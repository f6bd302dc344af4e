// The scheduler with a fake model: a KV cache of one layer, one head and head_dim 1 (page
// bookkeeping is real, the memory tiny), a fake forward pass that writes each token's id as its
// "K" (so the cache's content can be checked against the request's tokens after forks and
// preemptions), and fake outputs that depend only on what the sequence holds (as a real model's
// do), so a recomputed request must continue exactly where it was.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "core/error.h"
#include "engine/scheduler.h"

namespace qwen3::engine {
namespace {

KvCacheOptions tiny_kv(int64_t pages, int page_size = 4) {
  KvCacheOptions o;
  o.num_layers = 1;
  o.num_kv_heads = 1;
  o.head_dim = 1;
  o.page_size = page_size;
  o.num_pages = pages;
  return o;
}

// The fake model's choice for a sampler: a hash of the sequence's tokens and the sampler's id
// (siblings sample differently, like separately seeded generators).
int32_t fake_token(std::span<const int32_t> tokens, RequestId sampler) {
  uint64_t h = 1469598103934665603ULL ^ uint64_t(sampler);
  for (int32_t t : tokens) h = (h ^ uint64_t(t)) * 1099511628211ULL;
  return int32_t(h % 1000) + 1;
}

struct Harness {
  KvCache kv;
  Scheduler s;
  std::map<RequestId, std::vector<int32_t>> outputs;
  std::map<RequestId, FinishReason> finished;
  std::vector<SchedulePlan> plans;
  std::function<void(Harness&)> before_step;  // e.g. a fake proposer calling set_draft

  Harness(int64_t pages, SchedulerOptions o, int page_size = 4) : kv(tiny_kv(pages, page_size)), s(kv, o) {}

  // One step: the plan, the fake forward (reserve is a no-op after the scheduler's; commit), fake
  // samples, update; then the invariants.
  std::vector<RequestUpdate> step() {
    if (before_step) before_step(*this);
    SchedulePlan plan = s.schedule();
    int64_t tokens = 0;
    std::vector<Sampled> sampled;
    for (auto& c : plan.chunks) {
      const int64_t free_before = kv.num_free_pages();
      kv.reserve(c.id, c.count);
      EXPECT_EQ(kv.num_free_pages(), free_before) << "the scheduler reserved the chunk's pages";
      // The chunk carries its tokens: the request's, then its drafts.
      auto toks = s.tokens(c.id);
      EXPECT_EQ(kv.num_tokens(c.id), c.begin);
      EXPECT_EQ(int64_t(c.tokens.size()), c.count);
      if (int64_t(c.tokens.size()) != c.count) return {};
      for (int64_t i = 0; i < c.count - c.num_draft; ++i) EXPECT_EQ(c.tokens[size_t(i)], toks[size_t(c.begin + i)]);
      for (int64_t i = 0; i < c.count; ++i) *reinterpret_cast<float*>(kv.key(0, c.id, c.begin + i)) = float(c.tokens[size_t(i)]);
      kv.commit(c.id, c.count);
      tokens += c.count;
      if (c.num_draft > 0) {
        // Verification: the fake model's token after each prefix, kept while it equals the draft.
        EXPECT_EQ(c.samplers, std::vector<RequestId>{c.id});
        std::vector<int32_t> ctx(toks.begin(), toks.end());
        for (int64_t i = 0; i <= c.num_draft; ++i) {
          const int32_t t = fake_token(ctx, c.id);
          sampled.push_back({c.id, t});
          if (i == c.num_draft || t != c.tokens[size_t(1 + i)]) break;
          ctx.push_back(t);
        }
        continue;
      }
      for (RequestId r : c.samplers) sampled.push_back({r, fake_token(s.tokens(c.id), r)});
    }
    EXPECT_EQ(tokens, plan.num_tokens);
    EXPECT_LE(plan.num_tokens, s.options().max_batch_tokens);
    EXPECT_LE(int(plan.chunks.size()), s.options().max_running);
    auto updates = s.update_from_output(plan, sampled);
    for (auto& u : updates) {
      outputs[u.id].push_back(u.token);
      if (u.finished) finished[u.id] = *u.finished;
    }
    kv.check_invariants();
    check_cache_content();
    plans.push_back(std::move(plan));
    return updates;
  }
  void check_cache_content() {
    for (SeqId id : kv.sequences()) {
      ASSERT_TRUE(s.contains(id));
      auto toks = s.tokens(id);
      ASSERT_EQ(kv.num_tokens(id), s.num_computed(id));
      for (int64_t p = 0; p < kv.num_tokens(id); ++p)
        ASSERT_EQ(*reinterpret_cast<const float*>(kv.key(0, id, p)), float(toks[size_t(p)])) << "request " << id << " position " << p;
    }
  }
  void run(int max_steps = 10000) {
    for (int i = 0; i < max_steps && s.has_work(); ++i) step();
    ASSERT_FALSE(s.has_work());
  }
};

std::vector<int32_t> prompt(int n, int salt) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(1000 + salt * 100 + i);
  return v;
}

// What a request generates with the fake model, alone in a cache big enough.
std::vector<int32_t> solo(const std::vector<int32_t>& p, int64_t max_tokens, RequestId id) {
  Harness h(1000, {.max_running = 1, .max_batch_tokens = 100000, .max_context = 4096});
  h.s.add({.id = id, .prompt = p, .max_tokens = max_tokens, .stop_token_ids = {}, .siblings = {}});
  h.run();
  return h.outputs[id];
}

TEST(Scheduler, AdmitsWhileKvPagesLast) {
  // 10 pages of 4 tokens; each prompt of 12 tokens takes 3 pages: three fit, the fourth waits.
  Harness h(10, {.max_running = 8, .max_batch_tokens = 1000, .max_context = 64});
  for (int i = 0; i < 5; ++i) h.s.add({.id = i + 1, .prompt = prompt(12, i), .max_tokens = 4, .stop_token_ids = {}, .siblings = {}});
  h.step();
  EXPECT_EQ(h.s.num_running(), 3u);
  EXPECT_EQ(h.s.num_waiting(), 2u);
  EXPECT_EQ(h.kv.num_free_pages(), 1);
  h.run();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(h.outputs[i + 1], solo(prompt(12, i), 4, i + 1)) << "request " << i + 1;
    EXPECT_EQ(h.finished[i + 1], FinishReason::Length);
  }
  EXPECT_EQ(h.kv.num_free_pages(), 10);
  EXPECT_EQ(h.s.num_requests(), 0u);
}

TEST(Scheduler, BatchSizeLimit) {
  Harness h(100, {.max_running = 2, .max_batch_tokens = 1000, .max_context = 64});
  for (int i = 0; i < 4; ++i) h.s.add({.id = i + 1, .prompt = prompt(3, i), .max_tokens = 3, .stop_token_ids = {}, .siblings = {}});
  h.step();
  EXPECT_EQ(h.s.num_running(), 2u);
  h.run();
  EXPECT_EQ(h.outputs.size(), 4u);
}

TEST(Scheduler, ChunkedPrefillMixesWithDecodes) {
  // Budget 8 tokens per step: request 1 decodes (1 token a step) while request 2's 20-token prompt
  // goes through in chunks of 7, 7, 6.
  Harness h(100, {.max_running = 4, .max_batch_tokens = 8, .max_context = 64});
  h.s.add({.id = 1, .prompt = prompt(5, 1), .max_tokens = 10, .stop_token_ids = {}, .siblings = {}});
  h.step();  // request 1's prompt
  h.s.add({.id = 2, .prompt = prompt(20, 2), .max_tokens = 3, .stop_token_ids = {}, .siblings = {}});
  const int64_t expect_chunks[3][2] = {{0, 7}, {7, 7}, {14, 6}};
  for (int k = 0; k < 3; ++k) {
    auto updates = h.step();
    const SchedulePlan& p = h.plans.back();
    ASSERT_EQ(p.chunks.size(), 2u);
    EXPECT_EQ(p.chunks[0].id, 1);
    EXPECT_EQ(p.chunks[0].count, 1);
    EXPECT_EQ(p.chunks[1].id, 2);
    EXPECT_EQ(p.chunks[1].begin, expect_chunks[k][0]);
    EXPECT_EQ(p.chunks[1].count, expect_chunks[k][1]);
    // Only the last chunk of the prompt produces a sample.
    EXPECT_EQ(p.chunks[1].samplers.empty(), k < 2);
    EXPECT_EQ(updates.size(), k < 2 ? 1u : 2u);
  }
  h.run();
  EXPECT_EQ(h.outputs[1], solo(prompt(5, 1), 10, 1));
  EXPECT_EQ(h.outputs[2], solo(prompt(20, 2), 3, 2));
}

TEST(Scheduler, PreemptsTheNewestAndRecomputesWithTheSameOutput) {
  // 8 pages of 4 tokens, four requests of 6 + 20 tokens (7 pages each at the end): decodes run out
  // of pages and the newest running request is preempted, again and again.
  Harness h(8, {.max_running = 4, .max_batch_tokens = 64, .max_context = 64});
  for (int i = 0; i < 4; ++i) h.s.add({.id = i + 1, .prompt = prompt(6, i), .max_tokens = 20, .stop_token_ids = {}, .siblings = {}});
  std::map<RequestId, bool> was_running;
  for (int step = 0; step < 10000 && h.s.has_work(); ++step) {
    std::vector<RequestId> running;
    for (RequestId id = 1; id <= 4; ++id)
      if (h.s.contains(id) && h.s.is_running(id)) running.push_back(id);
    h.step();
    // Victims, newest first, are the newest requests that were running (ids follow arrival).
    const auto& pre = h.plans.back().preempted;
    for (size_t k = 0; k < pre.size(); ++k) {
      ASSERT_LT(k, running.size());
      EXPECT_EQ(pre[k], running[running.size() - 1 - k]);
    }
  }
  EXPECT_GT(h.s.num_preemptions(), 0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.outputs[i + 1], solo(prompt(6, i), 20, i + 1)) << "request " << i + 1;
  EXPECT_EQ(h.kv.num_free_pages(), 8);
}

TEST(Scheduler, CancellationFreesPages) {
  Harness h(20, {.max_running = 1, .max_batch_tokens = 64, .max_context = 64});
  h.s.add({.id = 1, .prompt = prompt(9, 1), .max_tokens = 30, .stop_token_ids = {}, .siblings = {}});
  h.s.add({.id = 2, .prompt = prompt(9, 2), .max_tokens = 30, .stop_token_ids = {}, .siblings = {}});
  h.step();
  h.step();
  EXPECT_TRUE(h.s.is_running(1));
  EXPECT_FALSE(h.s.is_running(2));
  h.s.finish(2);  // waiting
  h.s.finish(1);  // running
  h.s.finish(7);  // unknown: ignored
  EXPECT_FALSE(h.s.has_work());
  EXPECT_EQ(h.kv.num_free_pages(), 20);
  EXPECT_TRUE(h.s.schedule().empty());
}

TEST(Scheduler, StopTokensAndContextLimit) {
  Harness h(100, {.max_running = 4, .max_batch_tokens = 64, .max_context = 12});
  const auto out = solo(prompt(4, 3), 8, 1);
  h.s.add({.id = 1, .prompt = prompt(4, 3), .max_tokens = 8, .stop_token_ids = {out[2]}, .siblings = {}});
  h.s.add({.id = 2, .prompt = prompt(4, 4), .max_tokens = 8, .stop_token_ids = {}, .siblings = {}});
  h.run();
  EXPECT_EQ(h.outputs[1], std::vector<int32_t>(out.begin(), out.begin() + 3));
  EXPECT_EQ(h.finished[1], FinishReason::Stop);
  EXPECT_EQ(h.outputs[2].size(), 8u);
  EXPECT_EQ(h.finished[2], FinishReason::Length);
  // prompt + max_tokens past the context, empty prompts, ids in use: refused.
  EXPECT_THROW(h.s.add({.id = 3, .prompt = prompt(5, 1), .max_tokens = 8, .stop_token_ids = {}, .siblings = {}}), Error);
  EXPECT_THROW(h.s.add({.id = 3, .prompt = {}, .max_tokens = 8, .stop_token_ids = {}, .siblings = {}}), Error);
  h.s.add({.id = 3, .prompt = prompt(2, 1), .max_tokens = 2, .stop_token_ids = {}, .siblings = {}});
  EXPECT_THROW(h.s.add({.id = 3, .prompt = prompt(2, 1), .max_tokens = 2, .stop_token_ids = {}, .siblings = {}}), Error);
  EXPECT_THROW(h.s.add({.id = 4, .prompt = prompt(2, 1), .max_tokens = 2, .stop_token_ids = {}, .siblings = {3}}), Error);
}

TEST(Scheduler, SiblingsShareThePromptLogitsAndForkItsPages) {
  // n = 3 over a 10-token prompt (pages of 4: two full pages and a partial one).
  Harness h(100, {.max_running = 8, .max_batch_tokens = 64, .max_context = 64});
  h.s.add({.id = 10, .prompt = prompt(10, 5), .max_tokens = 6, .stop_token_ids = {}, .siblings = {11, 12}});
  h.step();
  ASSERT_EQ(h.plans[0].chunks.size(), 1u);  // one prefill for the three
  EXPECT_EQ(h.plans[0].chunks[0].samplers, (std::vector<RequestId>{10, 11, 12}));
  EXPECT_EQ(h.kv.num_free_pages(), 100 - 3);
  h.step();
  // The siblings were admitted by forking: their chunk starts after the prompt (one token each),
  // and they share the two full pages (a private copy of the partial page each, plus growth).
  ASSERT_EQ(h.plans[1].chunks.size(), 3u);
  for (auto& c : h.plans[1].chunks) {
    EXPECT_EQ(c.begin, 10);
    EXPECT_EQ(c.count, 1);
  }
  EXPECT_EQ(h.kv.pool().refcount(h.kv.block_table(10)[0]), 3);
  EXPECT_EQ(h.kv.num_free_pages(), 100 - 3 - 2);
  h.run();
  // Each choice continues from its own first token exactly as the fake model dictates.
  for (RequestId id : {10, 11, 12}) {
    ASSERT_EQ(h.outputs[id].size(), 6u);
    std::vector<int32_t> seq = prompt(10, 5);
    EXPECT_EQ(h.outputs[id][0], fake_token(seq, id));
    for (size_t k = 0; k + 1 < h.outputs[id].size(); ++k) {
      seq.push_back(h.outputs[id][k]);
      EXPECT_EQ(h.outputs[id][k + 1], fake_token(seq, id));
    }
  }
  EXPECT_NE(h.outputs[10], h.outputs[11]);
  EXPECT_EQ(h.kv.num_free_pages(), 100);
}

TEST(Scheduler, SiblingsRecomputeWhenTheParentIsGone) {
  Harness h(100, {.max_running = 8, .max_batch_tokens = 64, .max_context = 64});
  h.s.add({.id = 1, .prompt = prompt(6, 1), .max_tokens = 1, .stop_token_ids = {}, .siblings = {2}});
  h.step();  // both sample their only token; the parent is done before the sibling is forked
  EXPECT_EQ(h.finished.size(), 2u);
  h.s.add({.id = 3, .prompt = prompt(6, 1), .max_tokens = 3, .stop_token_ids = {}, .siblings = {4}});
  h.s.finish(3);  // cancelled before its prompt ran: the sibling prefills the prompt itself
  h.run();
  EXPECT_EQ(h.outputs[4], solo(prompt(6, 1), 3, 4));
  EXPECT_EQ(h.plans.back().chunks.size(), 1u);
  EXPECT_EQ(h.kv.num_free_pages(), 100);
}

// Decode-first chunking: while request 1 decodes, request 2's long prompt runs 8 tokens a step
// beside it (1 decodes in every step), and both outputs are what they are alone.
TEST(Scheduler, PromptTokensAreCappedWhileOthersDecode) {
  Harness h(100, {.max_running = 4, .max_batch_tokens = 512, .max_context = 128, .decode_prefill_tokens = 8});
  h.s.add({.id = 1, .prompt = prompt(5, 1), .max_tokens = 20, .stop_token_ids = {}, .siblings = {}});
  h.step();  // nothing decodes yet: the whole prompt
  ASSERT_EQ(h.plans[0].num_tokens, 5);
  h.s.add({.id = 2, .prompt = prompt(30, 2), .max_tokens = 4, .stop_token_ids = {}, .siblings = {}});
  for (int i = 0; i < 4; ++i) {
    h.step();
    const SchedulePlan& p = h.plans.back();
    ASSERT_EQ(p.chunks.size(), 2u) << "step " << i;
    EXPECT_EQ(p.chunks[0].id, 1);
    EXPECT_EQ(p.chunks[0].count, 1);
    EXPECT_EQ(p.chunks[1].id, 2);
    EXPECT_EQ(p.chunks[1].begin, 8 * i);
    EXPECT_EQ(p.chunks[1].count, i < 3 ? 8 : 6);
    EXPECT_EQ(p.chunks[1].samplers.empty(), i < 3);
  }
  h.run();
  EXPECT_EQ(h.outputs[1], solo(prompt(5, 1), 20, 1));
  EXPECT_EQ(h.outputs[2], solo(prompt(30, 2), 4, 2));
  EXPECT_EQ(h.kv.num_free_pages(), 100);
}

// A burst: when the prompts that could start are at least prefill_waiting_ratio x the decoding
// requests, they are admitted at once, uncapped.
TEST(Scheduler, BurstOfArrivalsLiftsThePromptCap) {
  Harness h(100, {.max_running = 4, .max_batch_tokens = 512, .max_context = 128, .decode_prefill_tokens = 8,
                  .prefill_waiting_ratio = 2.0});
  h.s.add({.id = 1, .prompt = prompt(5, 1), .max_tokens = 20, .stop_token_ids = {}, .siblings = {}});
  h.step();
  h.s.add({.id = 2, .prompt = prompt(20, 2), .max_tokens = 3, .stop_token_ids = {}, .siblings = {}});
  h.step();  // 1 waiting < 2 x 1 decoding: capped
  EXPECT_EQ(h.plans.back().num_tokens, 1 + 8);
  h.s.add({.id = 3, .prompt = prompt(20, 3), .max_tokens = 3, .stop_token_ids = {}, .siblings = {}});
  h.step();  // 2 and 3 (2 prompts) >= 2 x 1: the rest of 2's prompt and all of 3's
  EXPECT_EQ(h.plans.back().num_tokens, 1 + 12 + 20);
  h.run();
  EXPECT_EQ(h.outputs[1], solo(prompt(5, 1), 20, 1));
  EXPECT_EQ(h.outputs[2], solo(prompt(20, 2), 3, 2));
  EXPECT_EQ(h.outputs[3], solo(prompt(20, 3), 3, 3));
  EXPECT_EQ(h.kv.num_free_pages(), 100);
}

TEST(Scheduler, RejectsABadPromptCap) {
  KvCache kv(tiny_kv(10));
  EXPECT_THROW(Scheduler(kv, {.decode_prefill_tokens = -1}), Error);
  EXPECT_THROW(Scheduler(kv, {.prefill_waiting_ratio = -0.5}), Error);
}


// --- Prefix cache (on by default): the fake forward writes each token's id as its K, and
// check_cache_content() compares every cached page a request is given with its tokens. ---

TEST(SchedulerPrefixCache, ALaterRequestSkipsTheCachedPrefix) {
  Harness h(100, {.max_running = 4, .max_batch_tokens = 64, .max_context = 64});
  h.s.add({.id = 1, .prompt = prompt(10, 1), .max_tokens = 3, .stop_token_ids = {}, .siblings = {}});
  h.run();
  EXPECT_EQ(h.plans[0].chunks[0].cached_prompt_tokens, 0);
  EXPECT_EQ(h.kv.num_evictable_pages(), 3);  // 13 computed tokens of which 12 are whole pages; cached
  EXPECT_EQ(h.kv.num_free_pages(), 100);
  // The same prompt: two whole pages (8 tokens) cached; it computes 2. A longer one that extends
  // the first request's output: three pages. One that diverges in page 1: one page.
  std::vector<int32_t> longer = prompt(10, 1);
  longer.insert(longer.end(), h.outputs[1].begin(), h.outputs[1].end());
  longer.push_back(7);
  std::vector<int32_t> diverging = prompt(10, 1);
  diverging[5] = 3;
  const std::vector<std::vector<int32_t>> prompts{prompt(10, 1), longer, diverging};
  const int64_t expect_cached[] = {8, 12, 4};
  for (int k = 0; k < 3; ++k) {
    const RequestId id = 2 + k;
    h.s.add({.id = id, .prompt = prompts[size_t(k)], .max_tokens = 4, .stop_token_ids = {}, .siblings = {}});
    h.step();
    const ScheduledChunk& c = h.plans.back().chunks[0];
    EXPECT_EQ(c.begin, expect_cached[k]) << "prompt " << k;
    EXPECT_EQ(c.cached_prompt_tokens, expect_cached[k]);
    h.run();
    EXPECT_EQ(h.outputs[id], solo(prompts[size_t(k)], 4, id)) << "prompt " << k;
  }
  EXPECT_EQ(h.s.prefix_hit_tokens(), 8 + 12 + 4);
}

TEST(SchedulerPrefixCache, ExactlyWholePagesLeaveTheLastTokenToCompute) {
  Harness h(100, {.max_running = 4, .max_batch_tokens = 64, .max_context = 64});
  h.s.add({.id = 1, .prompt = prompt(8, 1), .max_tokens = 1, .stop_token_ids = {}, .siblings = {}});
  h.run();
  h.s.add({.id = 2, .prompt = prompt(8, 1), .max_tokens = 2, .stop_token_ids = {}, .siblings = {}});
  h.step();
  EXPECT_EQ(h.plans.back().chunks[0].begin, 4);
  EXPECT_EQ(h.plans.back().chunks[0].count, 4);
  h.run();
  EXPECT_EQ(h.outputs[2], solo(prompt(8, 1), 2, 2));
}

TEST(SchedulerPrefixCache, OffComputesEverything) {
  Harness h(100, {.max_running = 4, .max_batch_tokens = 64, .max_context = 64, .prefix_cache = false});
  for (RequestId id : {1, 2}) {
    h.s.add({.id = id, .prompt = prompt(10, 1), .max_tokens = 2, .stop_token_ids = {}, .siblings = {}});
    h.run();
    EXPECT_EQ(h.plans.back().chunks.size(), 1u);
  }
  for (auto& p : h.plans)
    for (auto& c : p.chunks) EXPECT_LE(c.cached_prompt_tokens, 0);
  EXPECT_EQ(h.kv.num_cached_pages(), 0);
  EXPECT_EQ(h.kv.pool().num_free(), 100);
}

// A chunked prefill caches its pages as they fill: a request arriving mid-prefill shares them.
TEST(SchedulerPrefixCache, ChunkedPrefillPagesAreSharedWhileRunning) {
  Harness h(100, {.max_running = 4, .max_batch_tokens = 6, .max_context = 64});
  h.s.add({.id = 1, .prompt = prompt(20, 1), .max_tokens = 2, .stop_token_ids = {}, .siblings = {}});
  h.step();
  h.step();  // 12 tokens computed: 3 pages cached
  h.s.add({.id = 2, .prompt = prompt(20, 1), .max_tokens = 2, .stop_token_ids = {}, .siblings = {}});
  h.step();  // request 1 takes the whole budget (tokens 12..18): 4 pages cached
  ASSERT_EQ(h.plans.back().chunks.size(), 1u);
  h.step();  // request 1's last 2 prompt tokens, and request 2 from 4 cached pages
  ASSERT_EQ(h.plans.back().chunks.size(), 2u);
  EXPECT_EQ(h.plans.back().chunks[1].cached_prompt_tokens, 16);
  EXPECT_EQ(h.kv.block_table(2)[3], h.kv.block_table(1)[3]);
  h.run();
  EXPECT_EQ(h.outputs[1], solo(prompt(20, 1), 2, 1));
  EXPECT_EQ(h.outputs[2], solo(prompt(20, 1), 2, 2));
}

// Every page cached and none free: admission counts the cached pages as available and evicts them.
TEST(SchedulerPrefixCache, AFullPoolOfCachedPagesAdmits) {
  Harness h(4, {.max_running = 4, .max_batch_tokens = 64, .max_context = 16});
  h.s.add({.id = 1, .prompt = prompt(15, 1), .max_tokens = 1, .stop_token_ids = {}, .siblings = {}});
  h.run();
  ASSERT_EQ(h.kv.num_evictable_pages(), 3);
  h.s.add({.id = 2, .prompt = prompt(14, 2), .max_tokens = 2, .stop_token_ids = {}, .siblings = {}});
  h.s.add({.id = 3, .prompt = prompt(15, 1), .max_tokens = 1, .stop_token_ids = {}, .siblings = {}});
  h.run();
  EXPECT_EQ(h.outputs[2], solo(prompt(14, 2), 2, 2));
  EXPECT_EQ(h.outputs[3], solo(prompt(15, 1), 1, 3));
  EXPECT_EQ(h.kv.num_free_pages(), 4);
}

// Preemption keeps the victim's full pages cached (evictable): recomputing it finds what survived.
TEST(SchedulerPrefixCache, PreemptedRequestsRecomputeFromTheCache) {
  Harness h(8, {.max_running = 4, .max_batch_tokens = 64, .max_context = 64});
  for (int i = 0; i < 4; ++i) h.s.add({.id = i + 1, .prompt = prompt(6, i), .max_tokens = 20, .stop_token_ids = {}, .siblings = {}});
  h.run();
  EXPECT_GT(h.s.num_preemptions(), 0);
  EXPECT_GT(h.s.prefix_hit_tokens(), 0);  // the prompts differ: only recomputes can hit
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.outputs[i + 1], solo(prompt(6, i), 20, i + 1)) << "request " << i + 1;
  EXPECT_EQ(h.kv.num_free_pages(), 8);
  EXPECT_EQ(h.kv.pool().num_free() + h.kv.num_evictable_pages(), 8);
}

// n > 1 siblings that cannot fork recompute, and find the parent's pages in the cache.
TEST(SchedulerPrefixCache, SiblingsRecomputeFromTheCache) {
  Harness h(100, {.max_running = 8, .max_batch_tokens = 64, .max_context = 64});
  h.s.add({.id = 1, .prompt = prompt(10, 1), .max_tokens = 1, .stop_token_ids = {}, .siblings = {}});
  h.run();
  h.s.add({.id = 3, .prompt = prompt(10, 1), .max_tokens = 3, .stop_token_ids = {}, .siblings = {4}});
  h.s.finish(3);  // the sibling prefills the prompt itself, from the cache
  h.step();
  EXPECT_EQ(h.plans.back().chunks[0].id, 4);
  EXPECT_EQ(h.plans.back().chunks[0].begin, 8);
  h.run();
  EXPECT_EQ(h.outputs[4], solo(prompt(10, 1), 3, 4));
}

}  // namespace
}  // namespace qwen3::engine

namespace qwen3::engine {
namespace {

// A fake proposer: for every decoding request, k tokens that follow the fake model's own choices
// for the first `right` of them (a different hash decides how many per request and step), then
// wrong ones.
void propose(Harness& h, int k, uint64_t salt) {
  for (SeqId id : h.kv.sequences()) {
    if (!h.s.is_decoding(id)) continue;
    auto toks = h.s.tokens(id);
    std::vector<int32_t> ctx(toks.begin(), toks.end()), draft;
    const int right = int((uint64_t(toks.size()) * 2654435761u ^ salt ^ uint64_t(id)) % uint64_t(k + 1));
    for (int i = 0; i < k; ++i) {
      int32_t t = fake_token(ctx, id);
      if (i >= right) t = t % 997 + 2000;  // never the fake model's choice (those are 1..1000)
      draft.push_back(t);
      ctx.push_back(t);
    }
    h.s.set_draft(id, draft);
  }
}

TEST(SchedulerDrafts, OutputsAreTheSameAndRejectedDraftsLeaveTheCache) {
  for (bool prefix_cache : {false, true})
    for (int k : {1, 3, 7})
      for (int64_t pages : {int64_t(1000), int64_t(14)}) {  // 14: preemptions
        SCOPED_TRACE(testing::Message() << "prefix cache " << prefix_cache << ", k " << k << ", pages " << pages);
        Harness h(pages, {.max_running = 4, .max_batch_tokens = 24, .max_context = 4096, .prefix_cache = prefix_cache});
        h.before_step = [&](Harness& hh) { propose(hh, k, 99); };
        std::map<RequestId, std::vector<int32_t>> expect;
        for (RequestId id = 1; id <= 4; ++id) {
          const auto p = prompt(5 + int(id) * 3, int(id % 2));  // two pairs share a prefix
          expect[id] = solo(p, 9 + id, id);
          h.s.add({.id = id, .prompt = p, .max_tokens = 9 + id, .stop_token_ids = {}, .siblings = {}});
        }
        h.run();
        for (auto& [id, out] : expect) EXPECT_EQ(h.outputs[id], out) << "request " << id;
        int64_t drafted = 0;
        for (auto& plan : h.plans)
          for (auto& c : plan.chunks) drafted += c.num_draft;
        EXPECT_GT(drafted, 0);
        if (pages == 14) EXPECT_GT(h.s.num_preemptions(), 0);
      }
}

TEST(SchedulerDrafts, DraftsStopAtMaxTokensTheBudgetAndOnlyWhileDecoding) {
  Harness h(100, {.max_running = 2, .max_batch_tokens = 6, .max_context = 4096});
  h.s.add({.id = 1, .prompt = prompt(4, 0), .max_tokens = 4, .stop_token_ids = {}, .siblings = {}});
  h.s.set_draft(1, {1, 2, 3});  // waiting: ignored
  h.step();                     // prefill, first token
  ASSERT_TRUE(h.s.is_decoding(1));
  h.s.set_draft(1, {1, 2, 3, 4, 5, 6, 7});
  SchedulePlan plan = h.s.schedule();
  ASSERT_EQ(plan.chunks.size(), 1u);
  // 3 tokens left to emit: at most 2 drafts (each verify emits drafts + 1).
  EXPECT_EQ(plan.chunks[0].num_draft, 2);
  EXPECT_EQ(plan.chunks[0].count, 3);
  EXPECT_EQ(plan.chunks[0].tokens, (std::vector<int32_t>{h.s.tokens(1).back(), 1, 2}));
  // All rejected: one token, both drafts popped (the forward pass wrote all three).
  h.kv.commit(1, plan.chunks[0].count);
  auto u = h.s.update_from_output(plan, std::vector<Sampled>{{1, 7}});
  EXPECT_EQ(h.kv.num_tokens(1), int64_t(h.s.tokens(1).size()) - 1);
  h.kv.check_invariants();
  // The budget caps drafts too (6 tokens a step: 5 drafts).
  Harness b(100, {.max_running = 2, .max_batch_tokens = 6, .max_context = 4096});
  b.s.add({.id = 1, .prompt = prompt(4, 0), .max_tokens = 100, .stop_token_ids = {}, .siblings = {}});
  b.step();
  b.s.set_draft(1, std::vector<int32_t>(20, 5));
  EXPECT_EQ(b.s.schedule().chunks[0].num_draft, 5);
}

}  // namespace
}  // namespace qwen3::engine
