#include "engine/spec/draft_length.h"

#include <algorithm>
#include <cmath>

namespace qwen3::engine {

namespace {
constexpr double kDecay = 0.95;       // per observation, on the acceptance counts (a window of ~20)
constexpr double kCostWeight = 0.1;   // EMA weight of a new cost measurement
constexpr double kPriorAccepted = 0.5, kPriorTrials = 1;  // a = 0.5 before anything is seen, weighing one trial
}  // namespace

double DraftLength::acceptance(SeqId id) const {
  auto it = seqs_.find(id);
  const double a = it == seqs_.end() ? 0 : it->second.accepted, t = it == seqs_.end() ? 0 : it->second.trials;
  return (a + kPriorAccepted) / (t + kPriorTrials);
}

int DraftLength::best_k(double a) const {
  int best = 0;
  double best_rate = 1.0;  // k = 0: one token per unit
  double e = 1, ak = 1;    // E(k) = 1 + a + ... + a^k
  for (int k = 1; k <= o_.max_k; ++k) {
    ak *= a;
    e += ak;
    const double rate = e / (1.0 + k * (v_ + d_));
    if (rate > best_rate * 1.01) best = k, best_rate = rate;  // 1%: no drafting for nothing
  }
  return best;
}

int DraftLength::choose(SeqId id) {
  if (o_.max_k <= 0) return 0;
  if (!o_.adaptive) return o_.max_k;
  // The costs are relative to a step without drafts: measure one first.
  if (!have_base_) return 0;
  Seq& s = seqs_[id];
  ++s.steps;
  s.probing = false;
  if (s.off) return 0;
  const int k = best_k(acceptance(id));
  if (k > 0 || o_.probe_every <= 0) return k;
  // Drafting cannot pay even if every token were accepted: no probing (a costly draft is dropped).
  if (best_k(1.0) == 0) {
    if (d_ >= 0.05) s.off = true;
    return 0;
  }
  // A costly draft that has drafted and never once been accepted is not probed either: a probe would
  // cost its catch-up on every token since its last call for a token it has never got right.
  if (!s.ever_accepted && s.trials > 0 && d_ >= 0.05) {
    s.off = true;
    return 0;
  }
  if (s.probe_interval == 0) s.probe_interval = o_.probe_every, s.next_probe = s.steps + s.probe_interval;
  if (s.steps < s.next_probe) return 0;
  s.probing = true;
  return 1;
}

void DraftLength::observe(SeqId id, int drafted, int accepted) {
  if (drafted <= 0) return;
  Seq& s = seqs_[id];
  // accepted successes, then one failure unless every draft was accepted.
  const int trials = accepted + (accepted < drafted ? 1 : 0);
  s.accepted = kDecay * s.accepted + accepted;
  s.trials = kDecay * s.trials + trials;
  if (accepted > 0) s.ever_accepted = true;
  if (s.probing) {
    // A rejected probe waits twice as long for the next; an accepted one resets the interval.
    s.probe_interval = accepted > 0 ? o_.probe_every : std::min<int64_t>(2 * s.probe_interval, 8 * int64_t(o_.probe_every));
    s.next_probe = s.steps + s.probe_interval;
    s.probing = false;
    s.failed_probes = accepted > 0 ? 0 : s.failed_probes + 1;
    if (s.failed_probes >= 1 && d_ >= 0.05) s.off = true;
  }
}

void DraftLength::observe_step(double forward_seconds, int64_t decoding, int64_t drafted, double draft_seconds,
                               int rounds) {
  if (decoding <= 0 || !(forward_seconds > 0)) return;
  const double per_seq = forward_seconds / double(decoding);
  if (drafted == 0) {
    base_ = have_base_ ? (1 - kCostWeight) * base_ + kCostWeight * per_seq : per_seq;
    have_base_ = true;
    return;
  }
  if (!have_base_) return;
  // One more token per sequence costs v target steps; a draft round costs d.
  const double per_token = double(drafted) / double(decoding);
  // The first measurement replaces the prior; later ones are averaged in.
  const double v = std::max(0.0, (per_seq / base_ - 1.0) / per_token);
  v_ = have_v_ ? (1 - kCostWeight) * v_ + kCostWeight * v : v;
  have_v_ = true;
  if (rounds > 0) {
    const double d = draft_seconds / double(rounds) / (base_ * double(decoding));
    d_ = have_d_ ? (1 - kCostWeight) * d_ + kCostWeight * d : d;
    have_d_ = true;
  }
}

}  // namespace qwen3::engine
