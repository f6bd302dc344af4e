// The HTTP server's worker threads and the limits on its connections. cpp-httplib (0.11) gives one
// thread per connection from a task queue, reads headers with a timeout per recv() and no total
// deadline, and never tells the code above it which socket a request came on. This task queue
// adds what a server facing the network needs:
//   - threads are started on demand up to `max_connections`, so a few hundred slow clients cannot
//     starve /health the way they starve a fixed pool;
//   - a connection past `max_connections` gets an immediate 503 and is closed;
//   - deadlines: the request line and headers must arrive within `header_timeout` of the
//     connection opening (or of the previous response on a kept-alive connection), the body within
//     `body_timeout` of the headers; a watchdog shuts the socket down when one passes (a slowloris
//     client then frees its thread). Generation responses have no deadline.
// The socket of each connection is learnt from accept() itself: connection_pool.cpp wraps the
// libc function to note the descriptor it returns on the accepting thread, which is the thread that
// hands the connection to enqueue() next.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace qwen3::server {

struct ConnectionLimits {
  int max_connections = 1024;                   // connections served at once (one thread each)
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{60'000};
};

class ConnectionPool : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(ConnectionLimits limits);
  ~ConnectionPool() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // Called on the connection's own thread (from cpp-httplib's handlers): the phase it is in.
  static void headers_received();  // the body deadline starts
  static void body_received();     // no deadline while the response is produced
  static void response_sent();     // a kept-alive connection waits for its next request's headers

  struct Stats {
    int64_t threads = 0, active = 0, rejected = 0, timed_out = 0;
  };
  Stats stats() const;

 private:
  struct Connection {
    int fd = -1;  // our dup() of the socket: shutdown() through it cannot hit a reused number
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    bool timed_out = false;
  };
  struct Job {
    std::function<void()> fn;
    int fd = -1;
  };
  void worker();
  void watchdog();
  static void set_deadline(std::chrono::steady_clock::time_point when);

  const ConnectionLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable cv_, watchdog_cv_;
  std::deque<Job> jobs_;
  std::list<Connection> connections_;  // stable addresses: a worker keeps a pointer to its own
  std::vector<std::thread> threads_;
  int idle_ = 0;
  bool shutdown_ = false;
  int64_t rejected_ = 0, timed_out_ = 0;
  std::thread watchdog_;
};

}  // namespace qwen3::server
