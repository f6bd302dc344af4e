// --model as a Hugging Face repo id: a Hub cache laid out as huggingface_hub writes it (files in
// blobs/, relative symlinks in snapshots/<commit>/, refs/<name> holding the commit), and every way
// the lookup can fail.
#include "io/hf_hub_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>

#include "../temp_dir_test.h"
#include "core/error.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;

const std::string kMain = "0123456789abcdef0123456789abcdef01234567";
const std::string kOld = "fedcba9876543210fedcba9876543210fedcba98";

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The message of the qwen3::Error that `f` throws (fails the test when it throws none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

class HubCacheTest : public TempDirTest {
 protected:
  HubCacheTest() : TempDirTest("hub") {}
  void SetUp() override {
    TempDirTest::SetUp();
    cache_ = dir_ / "hub";
    repo_ = cache_ / "models--Qwen--Qwen3-0.6B";
    // Two commits; config.json differs, the tokenizer blob is shared (as the Hub deduplicates).
    write(repo_ / "blobs" / "aaa", "{\"main\": true}");
    write(repo_ / "blobs" / "bbb", "{\"main\": false}");
    write(repo_ / "blobs" / "ccc", "tokenizer");
    for (auto [commit, blob] : {std::pair{kMain, "aaa"}, std::pair{kOld, "bbb"}}) {
      const fs::path snap = repo_ / "snapshots" / commit;
      fs::create_directories(snap);
      fs::create_symlink(fs::path("../../blobs") / blob, snap / "config.json");
      fs::create_symlink("../../blobs/ccc", snap / "tokenizer.json");
    }
    write(repo_ / "refs" / "main", kMain);  // huggingface_hub writes no newline; tolerate one anyway
    write(repo_ / "refs" / "v1.0", kOld + "\n");
  }
  fs::path cache_, repo_;
};

TEST_F(HubCacheTest, RepoIdResolvesToTheMainSnapshotThroughItsSymlinks) {
  const fs::path p = resolve_model_path("Qwen/Qwen3-0.6B", "", cache_);
  EXPECT_EQ(p, repo_ / "snapshots" / kMain);
  EXPECT_EQ(read(p / "config.json"), "{\"main\": true}");
  EXPECT_EQ(read(p / "tokenizer.json"), "tokenizer");
  EXPECT_EQ(resolve_model_path("Qwen/Qwen3-0.6B", "main", cache_), p);
}

TEST_F(HubCacheTest, RevisionIsATagOrACommit) {
  EXPECT_EQ(read(resolve_model_path("Qwen/Qwen3-0.6B", "v1.0", cache_) / "config.json"), "{\"main\": false}");
  EXPECT_EQ(resolve_model_path("Qwen/Qwen3-0.6B", kOld, cache_), repo_ / "snapshots" / kOld);
  // A ref under a folder (refs/pr/1), as the Hub names pull requests.
  write(repo_ / "refs" / "pr" / "1", kOld);
  EXPECT_EQ(resolve_model_path("Qwen/Qwen3-0.6B", "pr/1", cache_), repo_ / "snapshots" / kOld);
}

TEST_F(HubCacheTest, MissingRefNamesWhatIsThereAndHowToDownload) {
  fs::remove(repo_ / "refs" / "main");
  const std::string e = error_of([&] { resolve_model_path("Qwen/Qwen3-0.6B", "", cache_); });
  EXPECT_NE(e.find("--model Qwen/Qwen3-0.6B"), std::string::npos) << e;
  EXPECT_NE(e.find("no revision 'main'"), std::string::npos) << e;
  EXPECT_NE(e.find((repo_ / "refs" / "main").string()), std::string::npos) << e;
  EXPECT_NE(e.find("refs there: v1.0"), std::string::npos) << e;
  EXPECT_NE(e.find(kMain + ", " + kOld), std::string::npos) << e;
  EXPECT_NE(e.find("hf download Qwen/Qwen3-0.6B"), std::string::npos) << e;
  // An unknown branch (not a commit hash either).
  const std::string e2 = error_of([&] { resolve_model_path("Qwen/Qwen3-0.6B", "dev", cache_); });
  EXPECT_NE(e2.find("no revision 'dev'"), std::string::npos) << e2;
  EXPECT_NE(e2.find("hf download Qwen/Qwen3-0.6B --revision dev"), std::string::npos) << e2;
}

TEST_F(HubCacheTest, BadRevisionsAreRefusedBeforeTouchingTheDisk) {
  for (const char* bad : {"../../../etc", "/etc/passwd", "a b", "main/", ".hidden", "x//y", "a\\b"}) {
    const std::string e = error_of([&] { resolve_model_path("Qwen/Qwen3-0.6B", bad, cache_); });
    EXPECT_NE(e.find("not a branch, tag or commit name"), std::string::npos) << bad << ": " << e;
  }
  // A ref that holds no commit hash, and a commit whose snapshot is missing.
  write(repo_ / "refs" / "broken", "not a hash");
  EXPECT_NE(error_of([&] { resolve_model_path("Qwen/Qwen3-0.6B", "broken", cache_); }).find("does not hold a commit hash"),
            std::string::npos);
  const std::string absent(40, 'e');
  const std::string e = error_of([&] { resolve_model_path("Qwen/Qwen3-0.6B", absent, cache_); });
  EXPECT_NE(e.find("snapshots/" + absent + " does not exist"), std::string::npos) << e;
  fs::remove_all(repo_ / "snapshots" / kMain);
  EXPECT_NE(error_of([&] { resolve_model_path("Qwen/Qwen3-0.6B", "", cache_); }).find("does not exist"), std::string::npos);
}

TEST_F(HubCacheTest, AbsentRepoSaysWhereItLookedAndHowToDownload) {
  const std::string e = error_of([&] { resolve_model_path("Qwen/Qwen3-8B", "", cache_); });
  EXPECT_NE(e.find((cache_ / "models--Qwen--Qwen3-8B").string()), std::string::npos) << e;
  EXPECT_NE(e.find("`hf download Qwen/Qwen3-8B`"), std::string::npos) << e;
  EXPECT_NE(e.find("`huggingface-cli download Qwen/Qwen3-8B`"), std::string::npos) << e;
  EXPECT_NE(e.find("HF_HUB_CACHE"), std::string::npos) << e;
}

TEST_F(HubCacheTest, AFolderThatLooksLikeARepoIdWins) {
  const fs::path cwd = fs::current_path();
  fs::create_directories(dir_ / "Qwen" / "Qwen3-0.6B");
  fs::current_path(dir_);
  const fs::path p = resolve_model_path("Qwen/Qwen3-0.6B", "", cache_);
  const std::string e = error_of([&] { resolve_model_path("Qwen/Qwen3-0.6B", "v1.0", cache_); });
  fs::current_path(cwd);
  EXPECT_EQ(p, fs::path("Qwen/Qwen3-0.6B"));
  EXPECT_NE(e.find("is a folder"), std::string::npos) << e;
  // Neither a folder nor a repo id: passed on for the loader to name the missing file.
  EXPECT_EQ(resolve_model_path("/no/such/dir", "", cache_), fs::path("/no/such/dir"));
  EXPECT_EQ(resolve_model_path("./Qwen3-0.6B", "", cache_), fs::path("./Qwen3-0.6B"));
}

TEST(HubCacheId, RepoIdShape) {
  EXPECT_TRUE(looks_like_repo_id("Qwen/Qwen3-0.6B"));
  EXPECT_TRUE(looks_like_repo_id("Qwen/Qwen3-32B-FP8"));
  EXPECT_TRUE(looks_like_repo_id("a_b/c.d"));
  for (const char* no : {"Qwen3-0.6B", "/abs/path", "a/b/c", "./x", "../x", "a/", "/a", "a/.b", "a/b c", "a/-b"})
    EXPECT_FALSE(looks_like_repo_id(no)) << no;
}

// The environment, in huggingface_hub's order.
TEST(HubCacheDir, EnvironmentOrder) {
  auto save = [](const char* n) -> std::optional<std::string> {
    const char* v = std::getenv(n);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  const char* names[] = {"HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME"};
  std::optional<std::string> saved[4];
  for (int i = 0; i < 4; ++i) saved[i] = save(names[i]);
  ::setenv("HOME", "/home/u", 1);
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  ::setenv("HF_HOME", "/hf", 1);
  ::setenv("HF_HUB_CACHE", "/hubcache", 1);
  EXPECT_EQ(hub_cache_dir(), fs::path("/hubcache"));
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_EQ(hub_cache_dir(), fs::path("/hf/hub"));
  ::unsetenv("HF_HOME");
  EXPECT_EQ(hub_cache_dir(), fs::path("/xdg/huggingface/hub"));
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(hub_cache_dir(), fs::path("/home/u/.cache/huggingface/hub"));
  for (int i = 0; i < 4; ++i) {
    if (saved[i]) ::setenv(names[i], saved[i]->c_str(), 1);
    else ::unsetenv(names[i]);
  }
}

}  // namespace
}  // namespace qwen3
