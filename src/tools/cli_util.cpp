#include "tools/cli_util.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace qwen3::tools {

std::vector<int32_t> parse_ids(const std::string& s, const char* option) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  if (s.empty()) fail("{}: empty list of token ids", option);
  while (pos <= s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    std::string tok = s.substr(pos, end - pos);
    while (!tok.empty() && tok.front() == ' ') tok.erase(tok.begin());
    while (!tok.empty() && tok.back() == ' ') tok.pop_back();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (tok.empty() || ec != std::errc() || p != tok.data() + tok.size() || v < 0 ||
        v > std::numeric_limits<int32_t>::max())
      fail("{}: '{}' (element {}) is not a token id", option, tok, ids.size());
    ids.push_back(int32_t(v));
    pos = end + 1;
  }
  return ids;
}

int64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

std::optional<int64_t> available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("MemAvailable:", 0) == 0) return std::stoll(line.substr(13)) * 1024;
  return std::nullopt;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance: Levenshtein plus the swap of two neighbours ("modle").
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::optional<std::string> closest_match(std::string_view typed, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(typed, c);
    if (d < best_d && d <= 2 && 2 * d < c.size()) best = c, best_d = d;
  }
  return best;
}

void set_examples(CLI::App& app, std::initializer_list<const char*> examples) {
  std::string footer = "\nExamples:";
  for (const char* e : examples) footer += std::string("\n  ") + e;
  app.footer(footer + "\n");
}

void add_force_flag(CLI::App& app, bool& force) {
  app.add_flag("--force", force, "overwrite --out when it exists");
}

void check_output_path(const std::string& path, bool force, const char* flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);
  if (force || ec || !fs::exists(st)) return;
  if (fs::is_directory(st) && fs::is_empty(path, ec) && !ec) return;
  fail("{}: '{}' already exists; pass --force to overwrite it", flag, path);
}

void remove_stale_weights(const std::string& dir, const std::vector<std::string>& written) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name != "model.safetensors.index.json" && e.path().extension() != ".safetensors") continue;
    if (std::find(written.begin(), written.end(), name) != written.end()) continue;
    if (!fs::remove(e.path(), ec) || ec) fail("--out: cannot remove '{}': {}", e.path().string(), ec.message());
  }
  if (ec) fail("--out: cannot list '{}': {}", dir, ec.message());
}

}  // namespace qwen3::tools
