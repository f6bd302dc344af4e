// Progress of a long step (loading weights, writing a checkpoint) on stderr.
//
// On a terminal the step is one line redrawn in place with "\r" as each percent completes; when
// stderr is not a terminal (a log file, a pipe) it is plain lines, one per 10 %. A step that ends
// within its first half second prints nothing, so quick runs (tests, the tiny preset) stay quiet;
// QWEN3_PROGRESS_DELAY_MS changes that delay (0: from the start). `--quiet` turns it all off, as do
// the tensor-parallel ranks other than 0 (rank 0 speaks for the job).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace qwen3 {

enum class ProgressOutput { Off, Terminal, Lines };

// The process-wide setting, chosen once by the CLI. Default: Terminal when stderr is a terminal,
// Lines otherwise.
ProgressOutput progress_output();
void set_progress_output(ProgressOutput out);

class Progress {
 public:
  // `stage` names the step ("loading weights"); `total` counts its units (layers, bytes).
  Progress(std::string stage, int64_t total);
  ~Progress();  // ends the terminal line, if one was drawn
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set(int64_t done);  // done units so far, 0..total
  void add(int64_t n) { set(done_ + n); }

 private:
  void draw(int percent);

  std::string stage_;
  int64_t total_, done_ = 0;
  ProgressOutput out_;
  std::chrono::steady_clock::time_point start_, show_from_;
  int shown_ = -1;  // the last percent printed; -1: nothing printed yet
};

}  // namespace qwen3
