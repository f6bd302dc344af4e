// Helper for scan.js: reads one JSON string per line on stdin and prints, per line, what one stage
// of the tokenizer makes of it, as JSON:
//   dump split TOKENIZER_JSON   the pieces of the Split pre-tokenizer (an array of strings)
//   dump nfc                    the NFC normalization (a string)
// Built by run.sh against the static libraries of a build directory; not part of the CMake build.
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"

int main(int argc, char** argv) {
  using nlohmann::json;
  const bool split = argc == 3 && std::strcmp(argv[1], "split") == 0;
  if (!split && !(argc == 2 && std::strcmp(argv[1], "nfc") == 0)) {
    std::cerr << "usage: dump split TOKENIZER_JSON | dump nfc\n";
    return 2;
  }
  std::string pattern;
  if (split) {
    std::ifstream f(argv[2]);
    pattern = json::parse(f)["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"].get<std::string>();
  }
  const qwen3::RegexSplitter splitter(split ? pattern : "x");
  std::string line;
  std::vector<std::string_view> pieces;
  while (std::getline(std::cin, line)) {
    const std::string text = json::parse(line).get<std::string>();
    if (split) {
      pieces.clear();
      splitter.split(text, pieces);
      json out = json::array();
      for (std::string_view p : pieces) out.push_back(std::string(p));
      std::cout << out.dump() << '\n';
    } else {
      std::string out;
      qwen3::normalize(qwen3::Normalization::kNfc, text, out);
      std::cout << json(out).dump() << '\n';
    }
  }
}
