// A JSON file read and parsed, its errors naming the file. Header-only: core does not link
// nlohmann_json, its users (io, model, tokenizer, chat, tools) do.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

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

}  // namespace qwen3
