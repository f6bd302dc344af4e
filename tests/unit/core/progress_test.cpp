// core/progress.h: what a long step prints on stderr in each mode.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/progress.h"

namespace qwen3 {
namespace {

// Runs `steps` updates of a 200-unit step in `mode` and returns stderr.
std::string run(ProgressOutput mode, const char* delay_ms, int steps = 200) {
  const ProgressOutput before = progress_output();
  setenv("QWEN3_PROGRESS_DELAY_MS", delay_ms, 1);
  set_progress_output(mode);
  testing::internal::CaptureStderr();
  {
    Progress p("writing x", 200);
    for (int i = 1; i <= steps; ++i) p.add(1);
  }
  std::string err = testing::internal::GetCapturedStderr();
  set_progress_output(before);
  unsetenv("QWEN3_PROGRESS_DELAY_MS");
  return err;
}

// The text with the timings "(0.0 s)" taken out.
std::string untimed(std::string s) {
  for (size_t at; (at = s.find(" (")) != std::string::npos;) s.erase(at, s.find(" s)", at) + 3 - at);
  return s;
}

TEST(Progress, PlainLinesEveryTenPercent) {
  EXPECT_EQ(untimed(run(ProgressOutput::Lines, "0")),
            "writing x: 0%\nwriting x: 10%\nwriting x: 20%\nwriting x: 30%\nwriting x: 40%\nwriting x: 50%\n"
            "writing x: 60%\nwriting x: 70%\nwriting x: 80%\nwriting x: 90%\nwriting x: 100%\n");
}

TEST(Progress, TerminalRedrawsOneLineEachPercent) {
  const std::string err = untimed(run(ProgressOutput::Terminal, "0"));
  std::string want;
  for (int p = 0; p <= 100; ++p) want += "\rwriting x: " + std::string(p < 10 ? "  " : p < 100 ? " " : "") + std::to_string(p) + "%";
  EXPECT_EQ(err, want + "\n");
}

TEST(Progress, SilentWhenOffOrQuick) {
  EXPECT_EQ(run(ProgressOutput::Off, "0"), "");
  EXPECT_EQ(run(ProgressOutput::Lines, "60000"), "");     // done long before the delay
  EXPECT_EQ(run(ProgressOutput::Terminal, "60000"), "");  // and no newline either
}

TEST(Progress, StopsWhereTheStepStops) {
  EXPECT_EQ(untimed(run(ProgressOutput::Lines, "0", 50)), "writing x: 0%\nwriting x: 10%\nwriting x: 20%\n");
}

}  // namespace
}  // namespace qwen3
