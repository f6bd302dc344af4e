// The MPI communicator (OpenMPI from Debian). Collectives on MPI_COMM_WORLD, called by one thread
// at a time (MPI_THREAD_SERIALIZED: the server's engine thread runs the forward pass).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include "core/error.h"
#include "parallel/communicator.h"

namespace qwen3 {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int checked_int(int64_t n, const char* what) {
  if (n < 0 || n > INT_MAX) fail("MPI: {} of {} elements does not fit an int count", what, n);
  return int(n);
}

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail("MPI: {} failed: {}", call, std::string(msg, size_t(len)));
}

bool g_initialised_here = false;

class Mpi final : public Communicator {
 public:
  Mpi() {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
      g_initialised_here = true;
      if (provided < MPI_THREAD_SERIALIZED)
        fail("MPI: the library provides thread level {}, qwen3 needs MPI_THREAD_SERIALIZED", provided);
    }
    // Errors come back as return codes, turned into qwen3::Error naming the call.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "MPI"; }

  void all_reduce_sum(float* data, int64_t n) override {
    if (size_ == 1 || n == 0) return;
    const auto t0 = Clock::now();
    const int64_t P = size_;
    // Small messages (a decode step's rows): every rank gathers every partial and sums them in
    // rank order. Large ones (prefill): a reduce-scatter by all-to-all, each rank summing its
    // slice in rank order, then an all-gather of the slices. Both give the same bits per element.
    if (n <= kSmall) {
      buf_.resize(size_t(P * n));
      check(MPI_Allgather(data, checked_int(n, "all-reduce"), MPI_FLOAT, buf_.data(), int(n), MPI_FLOAT,
                          MPI_COMM_WORLD),
            "MPI_Allgather");
      sum_rows(buf_.data(), n, 0, n, data);
    } else {
      const int64_t per = (n + P - 1) / P;
      std::vector<int> send_counts(static_cast<size_t>(P)), send_displs(send_counts), recv_counts(send_counts), recv_displs(send_counts);
      const int64_t my0 = std::min(n, rank_ * per), my1 = std::min(n, my0 + per), mine = my1 - my0;
      for (int64_t r = 0; r < P; ++r) {
        const int64_t b = std::min(n, r * per), e = std::min(n, b + per);
        send_counts[size_t(r)] = checked_int(e - b, "all-reduce");
        send_displs[size_t(r)] = int(b);
        recv_counts[size_t(r)] = int(mine);
        recv_displs[size_t(r)] = int(r * mine);
      }
      buf_.resize(size_t(P * mine));
      check(MPI_Alltoallv(data, send_counts.data(), send_displs.data(), MPI_FLOAT, buf_.data(), recv_counts.data(),
                          recv_displs.data(), MPI_FLOAT, MPI_COMM_WORLD),
            "MPI_Alltoallv");
      slice_.resize(size_t(mine));
      sum_rows(buf_.data(), mine, 0, mine, slice_.data());
      check(MPI_Allgatherv(slice_.data(), int(mine), MPI_FLOAT, data, send_counts.data(), send_displs.data(), MPI_FLOAT,
                           MPI_COMM_WORLD),
            "MPI_Allgatherv");
    }
    stats_.all_reduce_calls++;
    stats_.all_reduce_bytes += n * int64_t(sizeof(float));
    stats_.all_reduce_seconds += since(t0);
  }

  void gather(const float* send, std::span<const int64_t> counts, float* recv) override {
    if (int64_t(counts.size()) != size_) fail("gather: {} counts for {} ranks", counts.size(), size_);
    const auto t0 = Clock::now();
    std::vector<int> c(counts.size()), d(counts.size());
    int64_t off = 0;
    for (size_t r = 0; r < counts.size(); ++r) {
      c[r] = checked_int(counts[r], "gather");
      d[r] = checked_int(off, "gather");
      off += counts[r];
    }
    check(MPI_Gatherv(send, c[size_t(rank_)], MPI_FLOAT, recv, c.data(), d.data(), MPI_FLOAT, 0, MPI_COMM_WORLD),
          "MPI_Gatherv");
    stats_.gather_calls++;
    stats_.gather_bytes += off * int64_t(sizeof(float));
    stats_.gather_seconds += since(t0);
  }

  void broadcast(std::vector<std::byte>& data) override { bcast(data, false); }
  void broadcast_idle(std::vector<std::byte>& data) override { bcast(data, true); }

  std::vector<std::string> all_gather(const std::string& mine) override {
    int len = checked_int(int64_t(mine.size()), "all_gather");
    std::vector<int> lens(static_cast<size_t>(size_)), displs(lens);
    check(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) displs[size_t(r)] = checked_int(total, "all_gather"), total += lens[size_t(r)];
    std::string all(size_t(total), '\0');
    check(MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r) out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(lens[size_t(r)])));
    return out;
  }

  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  static constexpr int64_t kSmall = 1 << 16;  // floats: 256 KiB per rank

  // out[i] = ((parts[0][i] + parts[1][i]) + ...) over the ranks, for i in [b, e); parts are n apart.
  void sum_rows(const float* parts, int64_t n, int64_t b, int64_t e, float* out) const {
    for (int64_t i = b; i < e; ++i) out[i] = parts[i];
    for (int64_t r = 1; r < size_; ++r) {
      const float* p = parts + r * n;
      for (int64_t i = b; i < e; ++i) out[i] += p[i];
    }
  }

  void bcast(std::vector<std::byte>& data, bool idle) {
    const auto t0 = Clock::now();
    int64_t n = int64_t(data.size());
    // The length goes by a nonblocking broadcast on every rank (a nonblocking collective never
    // matches a blocking one): a waiting worker polls it, sleeping longer the longer nothing comes
    // (up to 1 ms), instead of MPI's busy wait.
    MPI_Request req;
    check(MPI_Ibcast(&n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD, &req), "MPI_Ibcast");
    if (idle && rank_ != 0) {
      int done = 0;
      for (int spins = 0;; ++spins) {
        check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
        if (done) break;
        if (spins > 2000) std::this_thread::sleep_for(std::chrono::microseconds(spins > 20000 ? 1000 : 50));
      }
    } else {
      check(MPI_Wait(&req, MPI_STATUS_IGNORE), "MPI_Wait");
    }
    data.resize(size_t(n));
    for (int64_t off = 0; off < n;) {  // in pieces below INT_MAX bytes
      const int64_t piece = std::min<int64_t>(n - off, int64_t(1) << 30);
      check(MPI_Bcast(data.data() + off, int(piece), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
      off += piece;
    }
    stats_.broadcast_calls++;
    stats_.broadcast_bytes += n;
    if (!idle || rank_ == 0) stats_.broadcast_seconds += since(t0);
  }

  int rank_ = 0, size_ = 1;
  std::vector<float> buf_, slice_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<Mpi>(); }

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_initialised_here && !finalized) MPI_Finalize();
}

}  // namespace qwen3
