// A short description of a JSON value for error messages: scalars as JSON text (cut at 60
// characters), containers by their kind. Never recursive, so a hostile deeply nested value cannot
// overflow the stack or produce a megabyte-long message.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace qwen3 {

inline std::string json_brief(const nlohmann::json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace qwen3
