// The input lines of `qwen3 chat`: on a terminal through libedit (line editing, history with the
// arrow keys), otherwise plain std::getline on stdin (a pipe, a file). Ctrl-C is the caller's: a
// SIGINT installed without SA_RESTART interrupts the read, which then ends like end of input.
#pragma once

#include <optional>
#include <string>

namespace qwen3::tools {

class LineReader {
 public:
  explicit LineReader(bool terminal);  // terminal: stdin and stdout are terminals
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // One line without its newline; nullopt at end of input or when a signal interrupted the read.
  std::optional<std::string> read(const std::string& prompt);

 private:
  bool terminal_;
};

}  // namespace qwen3::tools
