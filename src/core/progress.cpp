#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace qwen3 {
namespace {

ProgressOutput& setting() {
  static ProgressOutput out = isatty(STDERR_FILENO) ? ProgressOutput::Terminal : ProgressOutput::Lines;
  return out;
}

std::chrono::milliseconds delay() {
  if (const char* e = std::getenv("QWEN3_PROGRESS_DELAY_MS"); e && *e) {
    char* end = nullptr;
    const long v = std::strtol(e, &end, 10);
    if (*end == '\0' && v >= 0) return std::chrono::milliseconds(v);
  }
  return std::chrono::milliseconds(500);
}

}  // namespace

ProgressOutput progress_output() { return setting(); }
void set_progress_output(ProgressOutput out) { setting() = out; }

Progress::Progress(std::string stage, int64_t total)
    : stage_(std::move(stage)), total_(total), out_(setting()), start_(std::chrono::steady_clock::now()),
      show_from_(start_ + delay()) {
  set(0);
}

Progress::~Progress() {
  if (out_ == ProgressOutput::Terminal && shown_ >= 0) std::fputc('\n', stderr);
}

void Progress::set(int64_t done) {
  done_ = done;
  if (out_ == ProgressOutput::Off || total_ <= 0) return;
  const int percent = int(std::min<int64_t>(100, std::max<int64_t>(0, done) * 100 / total_));
  // Lines: one per 10 %; the terminal line is redrawn each percent.
  const int step = out_ == ProgressOutput::Lines ? percent / 10 * 10 : percent;
  if (step <= shown_ || std::chrono::steady_clock::now() < show_from_) return;
  draw(step);
}

void Progress::draw(int percent) {
  shown_ = percent;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // "loading weights:  45% (2.1 s)"
  const std::string line = out_ == ProgressOutput::Terminal ? fmt::format("\r{}: {:3d}% ({:.1f} s)", stage_, percent, secs)
                                                           : fmt::format("{}: {}% ({:.1f} s)\n", stage_, percent, secs);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace qwen3
