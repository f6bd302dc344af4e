#include "tools/line_reader.h"

#include <editline/readline.h>

#include <cstdlib>
#include <iostream>

namespace qwen3::tools {

LineReader::LineReader(bool terminal) : terminal_(terminal) {
  if (!terminal_) return;
  rl_readline_name = "qwen3";  // ~/.editrc may bind keys for "qwen3"
  rl_catch_signals = 0;        // SIGINT stays the chat's (it stops a reply, or ends the session here)
  using_history();
}

LineReader::~LineReader() {
  if (terminal_) clear_history();
}

std::optional<std::string> LineReader::read(const std::string& prompt) {
  if (!terminal_) {
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
  }
  char* raw = readline(prompt.c_str());
  if (!raw) return std::nullopt;
  std::string line(raw);
  std::free(raw);
  if (!line.empty()) add_history(line.c_str());
  return line;
}

}  // namespace qwen3::tools
