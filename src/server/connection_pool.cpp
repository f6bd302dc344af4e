#include "server/connection_pool.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace {

// The descriptor accept() last returned on this thread: cpp-httplib's accepting thread calls
// accept() and then, on the same thread, enqueue() for that socket.
thread_local int t_last_accepted = -1;

}  // namespace

// Wraps libc's accept (cpp-httplib is a shared library that calls it through the PLT, so this
// definition in the executable is the one it binds to); the result is unchanged.
extern "C" int accept(int fd, sockaddr* __restrict addr, socklen_t* __restrict len) {
  using AcceptFn = int (*)(int, sockaddr*, socklen_t*);
  static const AcceptFn real = reinterpret_cast<AcceptFn>(dlsym(RTLD_NEXT, "accept"));
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  const int r = real(fd, addr, len);
  t_last_accepted = r;
  return r;
}

namespace qwen3::server {

namespace {

using clock = std::chrono::steady_clock;

struct ThreadState {
  ConnectionPool* pool = nullptr;
  void* connection = nullptr;  // ConnectionPool::Connection of the connection this thread serves
};
thread_local ThreadState t_state;

// What a connection past the limit reads before it is closed.
const std::string& busy_response() {
  static const std::string r = [] {
    const std::string body =
        R"({"error": {"message": "too many open connections", "type": "server_error", "param": null, "code": null}})";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  return r;
}

}  // namespace

ConnectionPool::ConnectionPool(ConnectionLimits limits) : limits_(limits) {
  watchdog_ = std::thread([this] { watchdog(); });
}

ConnectionPool::~ConnectionPool() { shutdown(); }

void ConnectionPool::enqueue(std::function<void()> fn) {
  const int fd = t_last_accepted;
  t_last_accepted = -1;
  {
    std::lock_guard lk(mu_);
    const int64_t busy = int64_t(jobs_.size()) + int64_t(threads_.size()) - idle_;
    if (busy < limits_.max_connections) {
      jobs_.push_back(Job{std::move(fn), fd >= 0 ? ::dup(fd) : -1});
      if (idle_ < int64_t(jobs_.size()) && int64_t(threads_.size()) < limits_.max_connections) {
        threads_.emplace_back([this] { worker(); });
        ++idle_;  // counted idle from now on, not from when it first runs: `busy` stays exact
      }
      cv_.notify_one();
      return;
    }
    ++rejected_;
  }
  // Full: answer 503 without reading the request, then let cpp-httplib close the socket, which
  // returns at once since the socket is shut down.
  if (fd >= 0) {
    const std::string& r = busy_response();
    [[maybe_unused]] const ssize_t n = ::send(fd, r.data(), r.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_RDWR);
  }
  fn();
}

void ConnectionPool::worker() {
  t_state.pool = this;
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return !jobs_.empty() || shutdown_; });
    --idle_;
    if (jobs_.empty()) return;  // shutdown
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    auto it = connections_.insert(connections_.end(), Connection{job.fd, clock::now() + limits_.header_timeout});
    t_state.connection = &*it;
    lk.unlock();
    watchdog_cv_.notify_one();
    job.fn();
    lk.lock();
    t_state.connection = nullptr;
    if (it->fd >= 0) ::close(it->fd);
    connections_.erase(it);
    ++idle_;
  }
}

void ConnectionPool::watchdog() {
  std::unique_lock lk(mu_);
  while (!shutdown_) {
    auto next = clock::time_point::max();
    const auto now = clock::now();
    for (Connection& c : connections_) {
      if (c.deadline <= now && !c.timed_out) {
        // The blocked recv() returns 0 and cpp-httplib closes the connection.
        if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
        c.timed_out = true;
        ++timed_out_;
      } else if (!c.timed_out) {
        next = std::min(next, c.deadline);
      }
    }
    if (next == clock::time_point::max()) watchdog_cv_.wait(lk);
    else watchdog_cv_.wait_until(lk, next);
  }
}

void ConnectionPool::set_deadline(clock::time_point when) {
  ConnectionPool* pool = t_state.pool;
  if (pool == nullptr || t_state.connection == nullptr) return;
  {
    std::lock_guard lk(pool->mu_);
    static_cast<Connection*>(t_state.connection)->deadline = when;
  }
  pool->watchdog_cv_.notify_one();
}

void ConnectionPool::headers_received() {
  if (t_state.pool) set_deadline(clock::now() + t_state.pool->limits_.body_timeout);
}

void ConnectionPool::body_received() { set_deadline(clock::time_point::max()); }

void ConnectionPool::response_sent() {
  if (t_state.pool) set_deadline(clock::now() + t_state.pool->limits_.header_timeout);
}

ConnectionPool::Stats ConnectionPool::stats() const {
  std::lock_guard lk(mu_);
  return Stats{int64_t(threads_.size()), int64_t(jobs_.size() + threads_.size()) - idle_, rejected_, timed_out_};
}

void ConnectionPool::shutdown() {
  {
    std::lock_guard lk(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    // The server is stopping: connections still open (idle keep-alive, slow clients) end now.
    for (Connection& c : connections_) {
      if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
    }
  }
  cv_.notify_all();
  watchdog_cv_.notify_all();
  for (auto& t : threads_) t.join();
  if (watchdog_.joinable()) watchdog_.join();
  for (Job& j : jobs_) {
    if (j.fd >= 0) ::close(j.fd);
  }
}

}  // namespace qwen3::server
