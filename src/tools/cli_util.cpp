#include "tools/cli_util.h"

#include <charconv>
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

}  // namespace qwen3::tools
