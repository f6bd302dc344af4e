#include "parallel/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace qwen3 {

#ifdef QWEN3_HAVE_MPI
std::unique_ptr<Communicator> make_mpi_communicator();  // mpi_communicator.cpp
void finalize_mpi();
#endif

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "single process"; }
  void all_reduce_sum(float*, int64_t) override {}
  void gather(const float* send, std::span<const int64_t> counts, float* recv) override {
    if (recv != send && !counts.empty()) std::memcpy(recv, send, size_t(counts[0]) * sizeof(float));
  }
  void broadcast(std::vector<std::byte>&) override {}
  std::vector<std::string> all_gather(const std::string& mine) override { return {mine}; }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

int launcher_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}

std::unique_ptr<Communicator>& instance() {
  static std::unique_ptr<Communicator> c;
  return c;
}

}  // namespace

bool launched_tensor_parallel() { return launcher_size() > 1; }

int launcher_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}

int ranks_on_this_machine() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (const char* s = std::getenv(v)) return std::max(1, std::atoi(s));
  return 1;
}

Communicator& world() {
  auto& c = instance();
  if (!c) {
    if (launcher_size() >= 1) {
#ifdef QWEN3_HAVE_MPI
      c = make_mpi_communicator();
#else
      if (launcher_size() > 1)
        fail("started by an MPI launcher with {} ranks, but this qwen3 was built without MPI "
             "(install libopenmpi-dev and rebuild)", launcher_size());
#endif
    }
    if (!c) c = std::make_unique<SingleProcess>();
  }
  return *c;
}

void finalize_world() {
#ifdef QWEN3_HAVE_MPI
  if (instance() && std::strcmp(instance()->backend(), "MPI") == 0) finalize_mpi();
#endif
}

}  // namespace qwen3
