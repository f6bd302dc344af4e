// Small helpers shared by the subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::tools {

// "1,2,3" -> {1, 2, 3}; throws qwen3::Error naming the bad element.
std::vector<int32_t> parse_ids(const std::string& s, const char* option = "--ids");

// Peak resident set size of this process in bytes (VmHWM), 0 when unknown.
int64_t peak_rss_bytes();
// Memory the machine can give without swapping (Linux MemAvailable) in bytes, or nullopt when unknown.
std::optional<int64_t> available_memory_bytes();

// Edits (insert, delete, substitute, swap two neighbours) that turn a into b.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `typed`, if it is close enough to be what was meant: at most 2 edits,
// and fewer than half the length of the candidate.
std::optional<std::string> closest_match(std::string_view typed, const std::vector<std::string>& candidates);

// The --help footer: "Examples:" and one indented command line per example.
void set_examples(CLI::App& app, std::initializer_list<const char*> examples);

// --force, for commands that write --out.
void add_force_flag(CLI::App& app, bool& force);
// Refuses to overwrite: throws qwen3::Error naming `flag` and the path when something is at `path`
// and `force` is false. A folder that exists but is empty is not overwritten and is accepted.
void check_output_path(const std::string& path, bool force, const char* flag = "--out");
// After a checkpoint was written over another in folder `dir` (--force): removes the old one's
// *.safetensors and model.safetensors.index.json that the new one did not write (`written`), which
// a checkpoint with another number of shards would otherwise leave behind, to be loaded with the
// new config. Other files stay.
void remove_stale_weights(const std::string& dir, const std::vector<std::string>& written);

}  // namespace qwen3::tools
