// Tensor parallelism from the command line: `mpirun -n N qwen3 <command> ...` runs the command's
// model over N ranks (docs/parallel.md). Rank 0 runs the command as a single process would; the
// other ranks never run it: they load their slice of the model and mirror rank 0's forward passes
// (model/tp_mirror.h) until rank 0 is done.
//
// At start-up the ranks check, before any step, that they agree on what must agree: every rank
// sends either the error that stopped its load, or a fingerprint of the binary, config.json, the
// checkpoint's tensor index (names, dtypes, shapes; not the weight bytes) and the model options
// (not the folder's path, which may differ between machines; not --threads). Rank 0 reports any
// error or difference naming the rank and what differs, and every rank stops.
#pragma once

#include <memory>

#include "model/qwen3_model.h"
#include "tools/model_flags.h"

namespace qwen3::tools {

// --threads 0 (one per core) under mpirun: the machine's cores shared by the ranks placed on it.
int threads_per_rank(int requested);
// A rank other than 0: loads the model of `f` (a command without model flags: f == nullptr),
// mirrors rank 0 until it is done, and returns the exit status.
int run_tp_worker(const ModelFlags* f);
// Rank 0 (from load_model): the tensor-parallel model, after the start-up check.
std::unique_ptr<Qwen3Model> load_tp_model(const ModelFlags& f, LoadOptions opts);
// Rank 0, when the command has returned `rc`: releases the workers (only a command with model
// flags has any: `has_model`) and finalises MPI. Returns rc.
int finish_tp(int rc, bool has_model);

}  // namespace qwen3::tools
