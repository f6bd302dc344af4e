#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json_file.h"
#include "tokenizer/tokenizer.h"

namespace qwen3 {
namespace {

using nlohmann::json;

// A special token is written either as a string or, in older files, as an AddedToken object
// {"content": "...", ...}; null means none.
std::optional<std::string> token_string(const json& root, const char* key, const std::string& origin) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  fail("{}: {}: expected a string, an object with \"content\", or null", origin, key);
}

bool bool_value(const json& root, const char* key, const std::string& origin) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return false;
  if (!it->is_boolean()) fail("{}: {}: expected true or false", origin, key);
  return it->get<bool>();
}

}  // namespace

TokenizerConfig TokenizerConfig::load(const std::filesystem::path& path) {
  const std::string origin = path.string();
  const json root = read_json_file(path);
  if (!root.is_object()) fail("{}: expected an object at the top level", origin);

  TokenizerConfig c;
  c.bos_token = token_string(root, "bos_token", origin);
  c.eos_token = token_string(root, "eos_token", origin);
  c.pad_token = token_string(root, "pad_token", origin);
  c.unk_token = token_string(root, "unk_token", origin);
  c.add_bos_token = bool_value(root, "add_bos_token", origin);
  c.add_eos_token = bool_value(root, "add_eos_token", origin);

  if (auto it = root.find("model_max_length"); it != root.end() && it->is_number()) {
    // Some files say 1e30 for "no limit".
    const double v = it->get<double>();
    c.model_max_length = v > 9e18 ? INT64_MAX : static_cast<int64_t>(v);
  }
  if (auto it = root.find("additional_special_tokens"); it != root.end() && !it->is_null()) {
    if (!it->is_array()) fail("{}: additional_special_tokens: expected an array", origin);
    for (size_t i = 0; i < it->size(); ++i) {
      const json& t = (*it)[i];
      if (t.is_string()) {
        c.additional_special_tokens.push_back(t.get<std::string>());
      } else if (t.is_object() && t.contains("content") && t["content"].is_string()) {
        c.additional_special_tokens.push_back(t["content"].get<std::string>());
      } else {
        fail("{}: additional_special_tokens[{}]: expected a string", origin, i);
      }
    }
  }

  if (auto it = root.find("chat_template"); it != root.end() && !it->is_null()) {
    if (it->is_string()) {
      c.chat_template = it->get<std::string>();
    } else if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i) {
        const json& t = (*it)[i];
        if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("template") ||
            !t["template"].is_string()) {
          fail("{}: chat_template[{}]: expected {{\"name\": ..., \"template\": ...}}", origin, i);
        }
        c.named_chat_templates.emplace_back(t["name"].get<std::string>(), t["template"].get<std::string>());
        if (c.named_chat_templates.back().first == "default") c.chat_template = c.named_chat_templates.back().second;
      }
    } else {
      fail("{}: chat_template: expected a string or a list of named templates", origin);
    }
  } else {
    // Newer checkpoints keep the template in its own file.
    const auto jinja = path.parent_path() / "chat_template.jinja";
    if (regular_file_exists(jinja)) c.chat_template = read_file(jinja);
  }
  return c;
}

}  // namespace qwen3
