// Tensor parallelism across processes: rank 0 runs everything a single process runs (tokenizer,
// scheduler, sampling, server); every other rank mirrors its forward passes. Before each
// forward(), rank 0 broadcasts one message: the changes its KV cache recorded since the last step
// (KvCache::take_journal: add, fork, pop, remove, prefix-cache calls...) and the batch (sequence
// ids, new tokens, which logits are wanted). A worker replays the changes on its own cache, which
// holds only its KV heads but the same pages, then runs the same forward(), whose collectives
// (all-reduce, the logits gather) pair up with rank 0's.
#pragma once

#include <span>

#include "kv/kv_cache.h"
#include "parallel/communicator.h"

namespace qwen3 {

class Qwen3Model;
struct SeqChunk;

// Rank 0: sends this step (called by forward() itself).
void tp_send_step(Communicator& comm, std::span<const SeqChunk> batch, KvCache& kv);
// Rank 0: tells the workers to return from tp_serve().
void tp_send_shutdown(Communicator& comm);
// Every other rank: mirrors rank 0's steps until it sends shutdown. A step that fails with
// qwen3::Error fails on rank 0 the same way (same validation, same cache state) and is skipped;
// anything else ends the job (Communicator::abort) with a message naming the rank.
void tp_serve(Qwen3Model& model, Communicator& comm);

// Pauses a cache's journal for the duration of forward().
class TpJournalPause {
 public:
  explicit TpJournalPause(KvCache& kv) : kv_(kv) { kv_.pause_journal(true); }
  ~TpJournalPause() { kv_.pause_journal(false); }
  TpJournalPause(const TpJournalPause&) = delete;
  TpJournalPause& operator=(const TpJournalPause&) = delete;

 private:
  KvCache& kv_;
};

}  // namespace qwen3
