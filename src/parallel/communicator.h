// The ranks of a tensor-parallel job and the collectives the forward pass and the engine need.
// Two implementations: a single process (no MPI at all: every collective is the identity) and MPI
// (communicator.cpp / mpi_communicator.cpp), chosen once per process by world(). The kernels never
// see this; only the model's forward pass (all-reduce, the logits gather) and its mirror of rank 0's
// steps (model/tp_mirror.h) call it. A GPU backend would add an NCCL implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qwen3 {

// Where the time goes, for `qwen3 bench` (rank 0's view).
struct CommStats {
  int64_t all_reduce_calls = 0;
  int64_t all_reduce_bytes = 0;  // payload per rank (float32 elements * 4)
  double all_reduce_seconds = 0;
  int64_t gather_calls = 0;
  int64_t gather_bytes = 0;      // received by rank 0
  double gather_seconds = 0;
  int64_t broadcast_calls = 0;
  int64_t broadcast_bytes = 0;
  double broadcast_seconds = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "single process" | "MPI"

  // In place, on every rank: the element-wise sum over the ranks. Deterministic and independent of
  // n: element i is ((x_0[i] + x_1[i]) + x_2[i]) + ... in rank order, whatever algorithm moves the
  // data, so a row's result does not depend on which other rows are reduced with it.
  virtual void all_reduce_sum(float* data, int64_t n) = 0;
  // Rank 0 receives every rank's `send` (rank r sends counts[r] floats; all ranks pass the same
  // counts) into recv, concatenated in rank order; recv is ignored on the other ranks.
  virtual void gather(const float* send, std::span<const int64_t> counts, float* recv) = 0;
  // Rank 0's bytes to every rank; the others' `data` is replaced (its size too).
  virtual void broadcast(std::vector<std::byte>& data) = 0;
  // As broadcast(), for a rank with nothing else to do until rank 0 sends (a worker between
  // steps): waits without spinning a core once the wait grows long.
  virtual void broadcast_idle(std::vector<std::byte>& data) { broadcast(data); }
  // Every rank's string, in rank order, on every rank.
  virtual std::vector<std::string> all_gather(const std::string& mine) = 0;
  virtual void barrier() = 0;
  // Ends the job now, on every rank, with exit status `code` (after a message was printed).
  [[noreturn]] virtual void abort(int code) = 0;

  CommStats& stats() { return stats_; }
  const CommStats& stats() const { return stats_; }

 protected:
  CommStats stats_;
};

// The process's communicator: MPI when the process was started by an MPI launcher (mpirun sets
// OMPI_COMM_WORLD_SIZE / PMI_SIZE) and the binary was built with MPI, else a single process.
// MPI is initialised on the first call.
Communicator& world();
// True when an MPI launcher started this process with more than one rank.
bool launched_tensor_parallel();
// This process's rank as the launcher set it (0 without a launcher), known before MPI starts: rank 0
// starts MPI only when it loads the model, after a command such as serve has set its signal mask
// (threads MPI starts inherit it).
int launcher_rank();
// Ranks the launcher placed on this machine (1 without a launcher).
int ranks_on_this_machine();
// Finalises MPI if world() initialised it; a no-op otherwise. Call once, at exit.
void finalize_world();

}  // namespace qwen3
