// The CLI's suggestions (edit distance, closest match), its refusal to overwrite --out, and the
// available memory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.h"
#include "tools/cli_util.h"

namespace qwen3::tools {
namespace {

// bench sizes its KV cache against it: Linux's MemAvailable, within the physical memory.
TEST(AvailableMemory, IsPositiveAndWithinPhysicalMemory) {
  const auto a = available_memory_bytes();
  ASSERT_TRUE(a.has_value());
  const int64_t phys = int64_t(::sysconf(_SC_PHYS_PAGES)) * int64_t(::sysconf(_SC_PAGESIZE));
  EXPECT_GT(*a, 0);
  EXPECT_LE(*a, phys);
}

TEST(EditDistance, CountsInsertDeleteSubstituteAndSwap) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("generate", "generate"), 0u);
  EXPECT_EQ(edit_distance("gnerate", "generate"), 1u);    // one left out
  EXPECT_EQ(edit_distance("generatee", "generate"), 1u);  // one too many
  EXPECT_EQ(edit_distance("genarate", "generate"), 1u);   // one wrong
  EXPECT_EQ(edit_distance("--modle", "--model"), 1u);     // two neighbours swapped
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);  // optimal string alignment: a swapped pair is not edited again
}

TEST(ClosestMatch, SuggestsOnlyWhatIsClose) {
  const std::vector<std::string> commands = {"generate", "chat", "serve", "logits", "quantize", "make-test-model"};
  EXPECT_EQ(closest_match("gnerate", commands), "generate");
  EXPECT_EQ(closest_match("serv", commands), "serve");
  EXPECT_EQ(closest_match("quantise", commands), "quantize");
  EXPECT_EQ(closest_match("make-test-modle", commands), "make-test-model");
  EXPECT_EQ(closest_match("frobnicate", commands), std::nullopt);
  // Two edits on a four-letter name is half of it: not a suggestion.
  EXPECT_EQ(closest_match("xyat", commands), std::nullopt);
  EXPECT_EQ(closest_match("--prot", {"--port", "--host", "--model"}), "--port");
  EXPECT_EQ(closest_match("--max-token", {"--max-tokens", "--max-batch"}), "--max-tokens");
}

TEST(CheckOutputPath, RefusesAnythingThereWithoutForce) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("qwen3_out_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "empty");
  fs::create_directories(dir / "full");
  std::ofstream(dir / "full" / "config.json") << "{}";
  std::ofstream(dir / "file.npy") << "x";
  fs::create_symlink(dir / "nowhere", dir / "dangling");

  EXPECT_NO_THROW(check_output_path((dir / "new").string(), false));
  EXPECT_NO_THROW(check_output_path((dir / "empty").string(), false));  // nothing in it to overwrite
  for (const char* p : {"full", "file.npy", "dangling"}) {
    const std::string path = (dir / p).string();
    try {
      check_output_path(path, false);
      ADD_FAILURE() << path << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "--out: '" + path + "' already exists; pass --force to overwrite it");
    }
    EXPECT_NO_THROW(check_output_path(path, true));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qwen3::tools
