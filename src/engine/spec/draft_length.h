// How many tokens to draft for each sequence, step by step (adaptive draft length).
//
// Drafting k tokens and verifying them costs the draft's k rounds plus k more tokens in the
// target's forward pass; it pays with the drafts accepted. With a per-token acceptance rate a (the
// chance that a draft token is accepted given the ones before it were), a step with k drafts emits
// E(k) = (1 - a^(k+1)) / (1 - a) tokens on average, and costs 1 + k (v + d) target decode steps,
// where v is what one more token adds to the target's forward pass and d what one draft round
// costs, both relative to a target step without drafts, measured as the engine runs. Each
// sequence drafts the k in [0, max_k] with the most tokens per unit of cost; a = 0 gives k = 0.
// Nothing is drafted before one step without drafts has been timed (the unit of cost); the first
// measurement of v and d replaces their priors. When drafting cannot pay even at a = 1 (a draft
// nearly as costly as the target), a sequence at k = 0 does not probe.
// A sequence at k = 0 still drafts one token every probe_every steps, so that it notices when its
// acceptance comes back; each probe that is rejected doubles that interval (up to 8 x probe_every)
// and an accepted one resets it. A probe of a draft model costs more than its one token: the draft
// first catches up on every token since its last call. So when drafting is not nearly free
// (d >= 0.05) a rejected probe turns speculation off for the sequence for good (off():
// the proposer can drop its state), and such a draft that has never had a token accepted is turned
// off without a probe as soon as its k falls to 0, which bounds what a draft that is never accepted
// costs to the prompt catch-up and the first steps of drafts.
// adaptive = false: always max_k.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "kv/kv_cache.h"

namespace qwen3::engine {

struct DraftLengthOptions {
  int max_k = 4;
  bool adaptive = true;
  int probe_every = 16;
};

class DraftLength {
 public:
  explicit DraftLength(DraftLengthOptions o) : o_(o) {}
  const DraftLengthOptions& options() const { return o_; }
  int choose(SeqId id);                                 // k for this step
  void observe(SeqId id, int drafted, int accepted);    // after verification
  // One step's costs: seconds of the target's forward pass, with how many sequences decoded and how
  // many draft tokens they verified in it, and seconds spent drafting for it (rounds: the most
  // tokens any sequence drafted).
  void observe_step(double forward_seconds, int64_t decoding, int64_t drafted, double draft_seconds, int rounds);
  void release(SeqId id) { seqs_.erase(id); }
  // The prior for d before it is measured (e.g. the draft's weight bytes over the target's).
  void set_draft_cost_prior(double d) { d_ = d; }
  bool off(SeqId id) const {
    auto it = seqs_.find(id);
    return it != seqs_.end() && it->second.off;
  }
  double acceptance(SeqId id) const;  // the current estimate of a
  double verify_cost() const { return v_; }
  double draft_cost() const { return d_; }
  int best_k(double a) const;         // the k maximising E(k) / cost(k)

 private:
  struct Seq {
    double accepted = 0, trials = 0;  // decayed counts
    int64_t steps = 0;
    int64_t next_probe = 0;     // the step of the next probe while k = 0
    int64_t probe_interval = 0;
    bool probing = false;       // this step's draft is a probe
    int failed_probes = 0;      // in a row
    bool ever_accepted = false;
    bool off = false;           // speculation turned off for good
  };
  DraftLengthOptions o_;
  std::unordered_map<SeqId, Seq> seqs_;
  double base_ = 0;     // EMA of the forward seconds of steps without drafts, per decoding sequence
  double v_ = 0.1, d_ = 0.0;  // relative costs (priors until measured)
  bool have_base_ = false, have_v_ = false, have_d_ = false;
};

}  // namespace qwen3::engine
