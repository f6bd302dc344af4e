// `--model` as a folder or as a Hugging Face repo id found in the local Hub cache, laid out as
// huggingface_hub writes it (`hf download Qwen/Qwen3-0.6B`):
//
//   <cache>/models--Qwen--Qwen3-0.6B/refs/main                  the commit hash that `main` names
//   <cache>/models--Qwen--Qwen3-0.6B/snapshots/<commit>/...     the files, as relative symlinks
//   <cache>/models--Qwen--Qwen3-0.6B/blobs/<sha>                 into blobs/
//
// <cache> is HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub (huggingface_hub's constants.py). Nothing is downloaded.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace qwen3 {

// The Hub cache folder from the environment (above).
std::filesystem::path hub_cache_dir();

// "owner/name" with one slash, each part of letters, digits, '.', '_' and '-' (not starting with
// '.' or '-'), at most 96 characters each (the Hub's rule).
bool looks_like_repo_id(std::string_view s);

// What --model names: an existing folder as is (even one whose path looks like a repo id, e.g.
// Qwen/Qwen3-0.6B under the working directory; `revision` must then be empty); otherwise a repo
// id's snapshot in `cache_dir` at `revision` (empty: "main"), a branch or tag read from
// refs/<revision> or a commit hash naming snapshots/<hash>. Throws qwen3::Error naming `flag`, the
// places looked at and how to download the model when it is not there.
std::filesystem::path resolve_model_path(const std::string& model, const std::string& revision,
                                         const std::filesystem::path& cache_dir, std::string_view flag = "--model");

}  // namespace qwen3
