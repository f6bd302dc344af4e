// Shared by the grammar tests: the JSON grammar file and a small synthetic byte-level vocabulary.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "grammar/token_mask.h"
#include "../source_tree.h"

namespace qwen3::grammar::test {

inline std::string read_source_file(const std::string& rel) {
  std::string path = (qwen3::test::source_dir() / rel).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot read " << path;  // a missing input fails, never skips
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Ids: 0..255 single bytes; then JSON pieces, split UTF-8 characters, random strings; then one
// empty ordinary token and three specials: <|endoftext|> and <|im_end|> end, <|im_start|> does not.
struct SyntheticVocab {
  std::vector<std::string> bytes;
  std::vector<int32_t> special, end;
  int32_t eos = 0, im_end = 0, im_start = 0;
};

inline SyntheticVocab synthetic_vocab(size_t n_random, uint32_t seed) {
  SyntheticVocab v;
  for (int b = 0; b < 256; ++b) v.bytes.push_back(std::string(1, static_cast<char>(b)));
  for (const char* s : {"{\"", "\":", "\",", "\"}", "},", "}]", "[[", "]]", "[{", "true", "false", "null", "12",
                        "0.", "e+", "\\u", "\\\"", " \"", "\n ", "\": \"", "\"]", "-0", "00", "1e5", "\\n", "ab",
                        "name", "\": {", "\xc3\xa9", "\xc3", "\xa9x", "\xe2\x82", "\xac\"", "\xf0\x9f", "\x98\x80",
                        "\xd0\xbf\xd1", "\x80\xd0", "caf\xc3\xa9"})
    v.bytes.push_back(s);
  std::mt19937 rng(seed);
  const std::string alphabet = "{}[]\":,0123456789.-+eE \n\tabcnrtufl\\\xc3\xa9\xd0\xbf";
  for (size_t i = 0; i < n_random; ++i) {
    std::string s;
    size_t len = 1 + rng() % 6;
    for (size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    v.bytes.push_back(s);
  }
  v.bytes.push_back("");  // an unused id
  v.eos = static_cast<int32_t>(v.bytes.size());
  v.bytes.push_back("<|endoftext|>");
  v.im_start = static_cast<int32_t>(v.bytes.size());
  v.bytes.push_back("<|im_start|>");
  v.im_end = static_cast<int32_t>(v.bytes.size());
  v.bytes.push_back("<|im_end|>");
  v.special = {v.eos, v.im_start, v.im_end};
  v.end = {v.eos, v.im_end};
  return v;
}

}  // namespace qwen3::grammar::test
