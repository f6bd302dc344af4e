// Prints the GBNF grammar of a JSON Schema or a regex, for the corpus check
// (tests/grammar/corpus_check.py) and for looking at what the converter writes.
//   json_schema_to_gbnf [--flexible] SCHEMA.json|-    one schema -> its grammar on stdout
//   json_schema_to_gbnf --regex PATTERN                a regex -> its full-match grammar
//   json_schema_to_gbnf [--flexible] --batch           JSON lines of schemas on stdin ->
//                                                      {"gbnf": ...} or {"error": ...} per line
// Errors go to stderr with exit status 1 (the one-schema forms).
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "grammar/json_schema.h"
#include "grammar/regex.h"

namespace {

using nlohmann::ordered_json;
using qwen3::grammar::JsonSchemaOptions;

int batch(const JsonSchemaOptions& options) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    ordered_json out;
    try {
      out["gbnf"] = qwen3::grammar::json_schema_to_gbnf(ordered_json::parse(line), options);
    } catch (const std::exception& e) {
      out["error"] = e.what();
    }
    std::cout << out.dump(-1, ' ', false, ordered_json::error_handler_t::replace) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  JsonSchemaOptions options;
  int i = 1;
  if (i < argc && std::string(argv[i]) == "--flexible") {
    options.whitespace = qwen3::grammar::Whitespace::Flexible;
    ++i;
  }
  try {
    if (i < argc && std::string(argv[i]) == "--batch") return batch(options);
    if (i + 1 < argc && std::string(argv[i]) == "--regex") {
      std::cout << qwen3::grammar::regex_to_gbnf(argv[i + 1]);
      return 0;
    }
    if (i + 1 != argc) {
      std::cerr << "usage: json_schema_to_gbnf [--flexible] SCHEMA.json|- | --regex PATTERN | [--flexible] --batch\n";
      return 2;
    }
    std::stringstream text;
    if (std::string(argv[i]) == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream f(argv[i], std::ios::binary);
      if (!f) throw qwen3::Error(std::string("cannot read ") + argv[i]);
      text << f.rdbuf();
    }
    std::cout << qwen3::grammar::json_schema_to_gbnf(ordered_json::parse(text.str()), options);
  } catch (const std::exception& e) {
    std::cerr << "json_schema_to_gbnf: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
