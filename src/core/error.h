// Errors: every failure the user can cause (bad files, bad arguments, a full KV cache) is reported
// by throwing qwen3::Error with one line saying what is wrong and where. The CLI prints it to stderr
// and exits non-zero; the server maps it to an HTTP status.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace qwen3 {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown when the KV page pool cannot hold what a request needs. Nothing has been changed when it
// is thrown: the caller may free pages (preempt, finish a request) and try again.
class KvCacheFull : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace qwen3
