#include "io/hf_hub_cache.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace qwen3 {

namespace fs = std::filesystem;

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool is_hex_commit(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A branch, tag or commit name: no path that could leave refs/ or snapshots/.
bool valid_revision(std::string_view r) {
  if (r.empty() || r.size() > 255 || r.front() == '/' || r.front() == '.' || r.back() == '/') return false;
  if (r.find("..") != std::string_view::npos || r.find("//") != std::string_view::npos) return false;
  return std::all_of(r.begin(), r.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '/';
  });
}

// The names under `dir` (files under refs/, recursively, as "pr/1"; folders under snapshots/),
// sorted and joined for a message; "none" when there are none.
std::string list_names(const fs::path& dir, bool files) {
  std::vector<std::string> names;
  std::error_code ec;
  if (files) {
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) names.push_back(fs::relative(it->path(), dir, ec).generic_string());
  } else {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec)) names.push_back(it->path().filename().string());
  }
  if (names.empty()) return "none";
  std::sort(names.begin(), names.end());
  std::string s;
  for (auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::string download_hint(const std::string& repo, const std::string& revision) {
  const std::string rev = revision.empty() ? "" : " --revision " + revision;
  return fmt::format("download it with `hf download {0}{1}` (or `huggingface-cli download {0}{1}`)", repo, rev);
}

}  // namespace

fs::path hub_cache_dir() {
  if (const char* c = env("HF_HUB_CACHE")) return c;
  if (const char* h = env("HF_HOME")) return fs::path(h) / "hub";
  if (const char* x = env("XDG_CACHE_HOME")) return fs::path(x) / "huggingface" / "hub";
  const char* home = env("HOME");
  return fs::path(home ? home : "/") / ".cache" / "huggingface" / "hub";
}

bool looks_like_repo_id(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos || s.find('/', slash + 1) != std::string_view::npos) return false;
  auto part_ok = [](std::string_view p) {
    if (p.empty() || p.size() > 96 || p.front() == '.' || p.front() == '-' || p.find("..") != std::string_view::npos)
      return false;
    return std::all_of(p.begin(), p.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
             c == '-';
    });
  };
  return part_ok(s.substr(0, slash)) && part_ok(s.substr(slash + 1));
}

fs::path resolve_model_path(const std::string& model, const std::string& revision, const fs::path& cache_dir,
                            std::string_view flag) {
  if (model.empty()) fail("{}: empty", flag);
  if (is_dir(model)) {
    if (!revision.empty())
      fail("--revision {}: {} {} is a folder; --revision applies to a Hugging Face repo id", revision, flag, model);
    return model;
  }
  if (!looks_like_repo_id(model)) return model;  // the loader names the missing file

  const std::string rev = revision.empty() ? "main" : revision;
  if (!valid_revision(rev))
    fail("--revision '{}': not a branch, tag or commit name (letters, digits, '.', '_', '-' and '/')", rev);
  // huggingface_hub's repo_folder_name: "models--" + the id with '/' replaced by "--".
  const size_t slash = model.find('/');
  const fs::path repo = cache_dir / ("models--" + model.substr(0, slash) + "--" + model.substr(slash + 1));
  if (!is_dir(repo))
    fail("{} {}: no such folder, and not in the Hugging Face cache (looked for {}; the cache is HF_HUB_CACHE, else "
         "HF_HOME/hub, else ~/.cache/huggingface/hub): {}",
         flag, model, repo.string(), download_hint(model, revision));

  std::string commit;
  const fs::path ref = repo / "refs" / rev;
  std::error_code ec;
  if (fs::is_regular_file(ref, ec)) {
    std::ifstream in(ref);
    std::getline(in, commit);
    while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r' || commit.back() == ' '))
      commit.pop_back();
    if (!is_hex_commit(commit))
      fail("{} {}: {} does not hold a commit hash (40 hex digits), it holds '{}'", flag, model, ref.string(),
           commit.substr(0, 64));
  } else if (is_hex_commit(rev)) {
    commit = rev;
  } else {
    fail("{} {}: no revision '{}' in the Hugging Face cache: {} does not exist (refs there: {}; snapshots: {}); give "
         "--revision with one of them, or {}",
         flag, model, rev, ref.string(), list_names(repo / "refs", true), list_names(repo / "snapshots", false),
         download_hint(model, revision));
  }
  const fs::path snap = repo / "snapshots" / commit;
  if (!is_dir(snap))
    fail("{} {}: revision '{}' is commit {}, but {} does not exist (snapshots there: {}); {}", flag, model, rev, commit,
         snap.string(), list_names(repo / "snapshots", false), download_hint(model, revision));
  return snap;
}

}  // namespace qwen3
