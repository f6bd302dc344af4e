#include "tools/tp_launch.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <sstream>
#include <thread>
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/parallel_for.h"
#include "io/safetensors.h"
#include "model/tp_mirror.h"

#ifndef QWEN3_GIT_REVISION
#define QWEN3_GIT_REVISION "unknown"
#endif

namespace qwen3::tools {
namespace {

enum class State { NotLoaded, Running, Done };
State g_state = State::NotLoaded;

constexpr const char* kStop = "stop";  // rank 0 ended before loading a model

std::string fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

// "ok" and one "name=hash" line per thing that must agree, or "error" and the message.
std::string fingerprint(const ModelFlags& f, const LoadOptions& o) {
  const std::filesystem::path dir = f.model;
  const std::string config = read_json_file(dir / "config.json").dump();  // keys sorted: formatting does not count
  std::string index;
  const Checkpoint ckpt = Checkpoint::open(dir);
  for (const auto& [name, t] : ckpt.tensors()) index += fmt::format("{} {} {}\n", name, t->dtype_str, t->shape_str());
  const std::string options =
      fmt::format("quant={} kv-dtype={} numerics={} head={} vocab-parallel={}", f.quant, f.kv_dtype, f.numerics, f.head,
                  o.vocab_parallel);
  return fmt::format("ok\nbinary={}\nconfig.json={}\ntensor index={}\noptions={}\n",
                     fnv1a(std::string(QWEN3_GIT_REVISION) + " " + __VERSION__), fnv1a(config), fnv1a(index),
                     fnv1a(options));
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream is(s);
  for (std::string l; std::getline(is, l);) out.push_back(l);
  return out;
}

// Every rank's answer; the problem found, or "" when all agree.
std::string check(const std::vector<std::string>& all) {
  std::string problems;
  size_t errors = 0;
  for (size_t r = 0; r < all.size(); ++r)
    if (all[r].rfind("error\n", 0) == 0) {
      ++errors;
      problems += fmt::format("{}rank {}: {}", problems.empty() ? "" : "; ", r, all[r].substr(6));
    }
  if (errors == all.size() && std::all_of(all.begin(), all.end(), [&](auto& a) { return a == all[0]; }))
    return "every rank: " + all[0].substr(6);  // the same error everywhere: say it once
  if (!problems.empty()) return problems;
  const auto ref = lines(all[0]);
  for (size_t r = 1; r < all.size(); ++r) {
    const auto l = lines(all[r]);
    std::string diff;
    for (size_t i = 1; i < ref.size(); ++i)
      if (i >= l.size() || l[i] != ref[i]) diff += fmt::format("{}{}", diff.empty() ? "" : ", ", ref[i].substr(0, ref[i].find('=')));
    if (!diff.empty())
      problems += fmt::format("{}rank {} differs from rank 0 in: {}", problems.empty() ? "" : "; ", r, diff);
  }
  return problems;
}

// Loads this rank's slice and runs the start-up check. Throws on rank 0 when anything is wrong; a
// worker returns nullptr when it should stop quietly (rank 0 reports).
std::unique_ptr<Qwen3Model> load_and_check(const ModelFlags& f, LoadOptions opts, Communicator& comm) {
  std::unique_ptr<Qwen3Model> model;
  std::string mine, own_error;
  try {
    model = Qwen3Model::load(f.model, opts, comm);
    mine = fingerprint(f, opts);
  } catch (const std::exception& e) {
    model.reset();
    own_error = e.what();
    mine = "error\n" + own_error;
  }
  const std::vector<std::string> all = comm.all_gather(mine);
  if (comm.rank() != 0) return all[0] == kStop ? nullptr : check(all).empty() ? std::move(model) : nullptr;
  const std::string problem = check(all);
  if (!problem.empty()) {
    size_t errors = 0;
    for (auto& a : all) errors += a.rfind("error\n", 0) == 0;
    if (!own_error.empty() && errors == 1) throw Error(own_error);  // rank 0's alone: as one process says it
    fail("tensor parallel start-up over {} ranks: {}", comm.size(), problem);
  }
  return model;
}

}  // namespace

int threads_per_rank(int requested) {
  if (requested > 0 || !launched_tensor_parallel()) return requested;
  const int cores = int(std::thread::hardware_concurrency());
  return std::max(1, std::max(1, cores) / ranks_on_this_machine());
}

int run_tp_worker(const ModelFlags* f) {
  // A signal sent to the ranks (rank 0's own handling decides: the server drains, then releases
  // the workers) must not kill a worker under it; mpirun itself ends the job with SIGKILL.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  if (!f) return 0;  // a command that runs no model: rank 0 runs it alone (neither starts MPI)
  Communicator& comm = world();
  set_warnings(false);  // rank 0 speaks for the job; errors still print
  set_progress_output(ProgressOutput::Off);
  LoadOptions opts;
  try {
    if (f->threads < 0) fail("--threads: must be >= 0, got {}", f->threads);
    opts = load_options(*f);
    kv_dtype(*f);
    set_num_threads(threads_per_rank(f->threads));
  } catch (const std::exception&) {
    // Rank 0 parses the same options and reports the error; join the check as it does.
  }
  auto model = load_and_check(*f, opts, comm);
  if (model) tp_serve(*model, comm);
  model.reset();
  finalize_world();
  return 0;  // rank 0 reports any failure and exits non-zero
}

std::unique_ptr<Qwen3Model> load_tp_model(const ModelFlags& f, LoadOptions opts) {
  if (g_state != State::NotLoaded) fail("tensor parallel: only one model per job runs over the ranks");
  g_state = State::Done;  // from here on the workers have joined the check
  auto model = load_and_check(f, opts, world());
  g_state = State::Running;
  return model;
}

int finish_tp(int rc, bool has_model) {
  if (!launched_tensor_parallel() || !has_model) return rc;
  Communicator* c = nullptr;
  try {
    c = &world();
  } catch (const std::exception&) {
    return rc ? rc : 1;  // reported already (built without MPI)
  }
  Communicator& comm = *c;
  if (comm.rank() == 0) {
    try {
      if (g_state == State::NotLoaded) comm.all_gather(kStop);
      else if (g_state == State::Running) tp_send_shutdown(comm);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "qwen3: error: %s\n", e.what());
      rc = rc ? rc : 1;
    }
    g_state = State::Done;
  }
  finalize_world();
  return rc;
}

}  // namespace qwen3::tools
