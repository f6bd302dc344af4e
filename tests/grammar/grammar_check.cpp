// grammar_check GRAMMAR.gbnf STRINGS.txt: for each line of STRINGS.txt (a string, hex-encoded)
// prints "<longest viable prefix length> <1 if the whole string is a sentence, else 0>", feeding
// the bytes one at a time to a grammar::Matcher. The C++ half of tests/grammar/gbnf_ref.py.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "grammar/grammar.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: grammar_check GRAMMAR.gbnf STRINGS.txt\n");
    return 2;
  }
  try {
    std::ifstream gin(argv[1], std::ios::binary);
    if (!gin) qwen3::fail("cannot read {}", argv[1]);
    std::stringstream text;
    text << gin.rdbuf();
    auto grammar = qwen3::grammar::compile_grammar(text.str());
    std::ifstream sin(argv[2]);
    if (!sin) qwen3::fail("cannot read {}", argv[2]);
    std::string line;
    while (std::getline(sin, line)) {
      std::string bytes;
      for (size_t i = 0; i + 1 < line.size(); i += 2) bytes += static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16));
      qwen3::grammar::Matcher m(grammar);
      size_t viable = 0;
      while (viable < bytes.size() && m.accept_bytes(bytes.substr(viable, 1))) ++viable;
      bool sentence = viable == bytes.size() && m.can_end();
      // The same answer through one accept_bytes call of the whole string (all or nothing).
      qwen3::grammar::Matcher whole(grammar);
      bool whole_ok = whole.accept_bytes(bytes);
      if (whole_ok != (viable == bytes.size())) qwen3::fail("accept_bytes of the whole string disagrees on {}", line);
      std::cout << viable << ' ' << (sentence ? 1 : 0) << '\n';
    }
  } catch (const qwen3::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
