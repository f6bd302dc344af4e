// A JSON file read and parsed, its errors naming the file. Header-only: core does not link
// nlohmann_json, its users (io, model, tokenizer, chat, tools) do.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/error.h"
#include "core/file_io.h"

namespace qwen3 {

// Json: nlohmann::json or nlohmann::ordered_json. Every nlohmann error is caught, not only
// parse_error: a number such as 1e999 throws out_of_range ("number overflow").
template <typename Json = nlohmann::json>
Json read_json_file(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
}

// True when JSON text nests arrays/objects deeper than `max_depth` (brackets inside strings do not
// count). A cheap scan before parsing untrusted text whose parsed value is later walked
// recursively (dump(), conversions), so that it cannot exhaust the stack.
inline bool json_nested_deeper_than(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if ((c == '[' || c == '{') && ++depth > max_depth) {
      return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace qwen3
