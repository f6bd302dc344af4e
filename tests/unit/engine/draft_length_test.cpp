// Adaptive draft length: the k that maximises expected tokens per unit of cost, and probes that
// back off when a sequence's drafts are never accepted.
#include <gtest/gtest.h>

#include "engine/spec/draft_length.h"

namespace qwen3::engine {
namespace {

TEST(DraftLength, BestKFollowsAcceptanceAndCost) {
  DraftLength d({.max_k = 8, .adaptive = true, .probe_every = 16});
  // Priors: v = 0.1, d = 0. E(k) / (1 + 0.1 k).
  EXPECT_EQ(d.best_k(0.0), 0);
  EXPECT_EQ(d.best_k(0.05), 0);
  EXPECT_GE(d.best_k(0.5), 1);
  EXPECT_EQ(d.best_k(0.99), 8);
  EXPECT_LT(d.best_k(0.5), d.best_k(0.8));
  // Steps without drafts cost 10 ms per sequence; with 1 draft token each, 11 ms: v = 0.1. A draft
  // round costing half a target step (d = 0.5) makes drafting pay only at high acceptance.
  for (int i = 0; i < 100; ++i) {
    d.observe_step(0.010, 1, 0, 0, 0);
    d.observe_step(0.011, 1, 1, 0.005, 1);
  }
  EXPECT_NEAR(d.verify_cost(), 0.1, 1e-3);
  EXPECT_NEAR(d.draft_cost(), 0.5, 1e-3);
  EXPECT_EQ(d.best_k(0.5), 0);
  // E(3) / (1 + 3 x 0.6) = 1.325 and E(4) / 3.4 = 1.329: within 1%, the shorter draft.
  EXPECT_EQ(d.best_k(0.95), 3);
  // A draft round as costly as a target step never pays (E(k) < 1 + k (v + d) for a < 1).
  for (int i = 0; i < 200; ++i) d.observe_step(0.011, 1, 1, 0.010, 1);
  EXPECT_EQ(d.best_k(0.95), 0);
}

TEST(DraftLength, NeverAcceptedBacksOffToRareProbes) {
  DraftLength d({.max_k = 4, .adaptive = true, .probe_every = 16});
  EXPECT_EQ(d.choose(1), 0) << "no draft before a plain step is timed";
  d.observe_step(0.010, 1, 0, 0, 0);
  int drafted = 0;
  for (int step = 0; step < 2000; ++step) {
    const int k = d.choose(1);
    if (k > 0) d.observe(1, k, 0), drafted += k;
  }
  // A few drafts while the prior fades, then probes at 16, 32, 64, 128, 128, ... steps apart.
  EXPECT_LT(drafted, 30);
  EXPECT_GT(drafted, 10);
  EXPECT_NEAR(d.acceptance(1), 0.0, 0.2);
}

TEST(DraftLength, ACostlyDraftThatIsNeverAcceptedIsTurnedOff) {
  DraftLength d({.max_k = 4, .adaptive = true, .probe_every = 16});
  d.observe_step(0.010, 1, 0, 0, 0);
  int drafted = 0;
  for (int step = 0; step < 2000; ++step) {
    const int k = d.choose(1);
    if (k > 0) d.observe(1, k, 0), drafted += k, d.observe_step(0.011, 1, k, 0.004 * k, k);  // d = 0.4
  }
  EXPECT_TRUE(d.off(1));
  EXPECT_LT(drafted, 10);
}

TEST(DraftLength, ACostlyDraftNeverAcceptedStopsWithoutAProbe) {
  // d = 0.4, never accepted: speculation ends the first step k falls to 0, before any probe
  // (probe_every = 16), so only the first steps' drafts are paid for.
  DraftLength d({.max_k = 4, .adaptive = true, .probe_every = 16});
  d.observe_step(0.010, 1, 0, 0, 0);
  int drafted = 0, last_draft_step = -1, off_step = -1;
  for (int step = 0; step < 200 && off_step < 0; ++step) {
    const int k = d.choose(1);
    if (k > 0) d.observe(1, k, 0), drafted += k, last_draft_step = step, d.observe_step(0.011, 1, k, 0.004 * k, k);
    if (d.off(1)) off_step = step;
  }
  ASSERT_GE(off_step, 0);
  EXPECT_LT(off_step, 16) << "turned off before the first probe would have been due";
  EXPECT_LT(last_draft_step, off_step);
  EXPECT_LE(drafted, 4);
}

TEST(DraftLength, ACostlyDraftOnceAcceptedIsStillProbed) {
  // The same draft cost, but its first token was accepted: when its k falls to 0 it waits for a
  // probe rather than being dropped, and only a rejected probe turns it off.
  DraftLength d({.max_k = 4, .adaptive = true, .probe_every = 16});
  d.observe_step(0.010, 1, 0, 0, 0);
  int probes = 0, steps_at_zero = 0;
  bool first = true;
  for (int step = 0; step < 400 && !d.off(1); ++step) {
    const int k = d.choose(1);
    if (k == 0) ++steps_at_zero;
    if (k > 0) {
      if (!first && k == 1) ++probes;
      d.observe(1, k, first ? 1 : 0), d.observe_step(0.011, 1, k, 0.004 * k, k);
      first = false;
    }
  }
  EXPECT_TRUE(d.off(1));
  EXPECT_GE(steps_at_zero, 15) << "it waited for a probe";
  EXPECT_GE(probes, 1);
}

TEST(DraftLength, ADraftAsCostlyAsTheTargetStopsEvenWhenAlwaysRight) {
  // The target drafting for itself: every token accepted, but a draft round costs a target step.
  DraftLength d({.max_k = 4, .adaptive = true, .probe_every = 16});
  d.observe_step(0.010, 1, 0, 0, 0);
  int drafted = 0;
  for (int step = 0; step < 500; ++step) {
    const int k = d.choose(1);
    if (k > 0) d.observe(1, k, k), drafted += k, d.observe_step(0.010 + 0.0015 * k, 1, k, 0.011 * k, k);
  }
  EXPECT_NEAR(d.draft_cost(), 1.1, 1e-6) << "the first measurement replaces the prior";
  EXPECT_LE(drafted, 4) << "one step of drafts, then none";
  EXPECT_TRUE(d.off(1));
}

TEST(DraftLength, AcceptedDraftsKeepDrafting) {
  DraftLength d({.max_k = 4, .adaptive = true, .probe_every = 16});
  d.observe_step(0.010, 1, 0, 0, 0);
  for (int step = 0; step < 100; ++step) {
    const int k = d.choose(1);
    ASSERT_GT(k, 0) << "step " << step;
    d.observe(1, k, k);
  }
  EXPECT_EQ(d.choose(1), 4);
  DraftLength fixed({.max_k = 3, .adaptive = false, .probe_every = 16});
  fixed.observe(1, 3, 0);
  EXPECT_EQ(fixed.choose(1), 3);
}

}  // namespace
}  // namespace qwen3::engine
