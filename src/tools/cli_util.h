// Small helpers shared by the subcommands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qwen3::tools {

// "1,2,3" -> {1, 2, 3}; throws qwen3::Error naming the bad element.
std::vector<int32_t> parse_ids(const std::string& s, const char* option = "--ids");

// Peak resident set size of this process in bytes (VmHWM), 0 when unknown.
int64_t peak_rss_bytes();

}  // namespace qwen3::tools
