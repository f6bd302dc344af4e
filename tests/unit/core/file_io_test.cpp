#include "core/file_io.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/json_file.h"

#include "../temp_dir_test.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;

class FileIoTest : public TempDirTest {
 protected:
  FileIoTest() : TempDirTest("fileio") {}

  // The message of the Error that `f` throws ("" when it throws none).
  template <typename F>
  static std::string error_of(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(FileIoTest, ReadsRegularFilesAndSymlinksToThem) {
  write_file(dir_ / "a.txt", "hello");
  fs::create_symlink(dir_ / "a.txt", dir_ / "link.txt");
  EXPECT_EQ(read_file(dir_ / "a.txt"), "hello");
  EXPECT_EQ(read_file(dir_ / "link.txt"), "hello");
  EXPECT_TRUE(regular_file_exists(dir_ / "link.txt"));
  EXPECT_FALSE(regular_file_exists(dir_ / "absent.txt"));
}

// open() of a FIFO blocks until a writer comes: refused from stat(), before any open().
TEST_F(FileIoTest, RefusesWhatIsNotARegularFileNamingIt) {
  const fs::path fifo = dir_ / "config.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string e = error_of([&] { read_file(fifo); });
  EXPECT_NE(e.find("config.json: is a FIFO"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { regular_file_exists(fifo); }).find("is a FIFO"), std::string::npos);
  EXPECT_NE(error_of([&] { open_regular_file(fifo); }).find("is a FIFO"), std::string::npos);

  fs::create_directory(dir_ / "d.json");
  EXPECT_NE(error_of([&] { read_file(dir_ / "d.json"); }).find("d.json: is a directory"), std::string::npos);
  EXPECT_NE(error_of([&] { read_file("/dev/null"); }).find("/dev/null: is a character device"), std::string::npos);

  fs::create_symlink(dir_ / "nowhere", dir_ / "dangling.json");
  const std::string d = error_of([&] { regular_file_exists(dir_ / "dangling.json"); });
  EXPECT_NE(d.find("dangling.json: is a dangling symbolic link"), std::string::npos) << d;
  fs::create_symlink(dir_ / "loop.json", dir_ / "loop.json");
  EXPECT_NE(error_of([&] { read_file(dir_ / "loop.json"); }).find("loop.json: is a symbolic link loop"), std::string::npos);
  EXPECT_NE(error_of([&] { read_file(dir_ / "absent.json"); }).find("absent.json: does not exist"), std::string::npos);
}

TEST_F(FileIoTest, JsonErrorsNameTheFile) {
  write_file(dir_ / "c.json", R"({"rms_norm_eps": 1e999})");
  const std::string e = error_of([&] { read_json_file(dir_ / "c.json"); });
  EXPECT_NE(e.find("c.json: not valid JSON"), std::string::npos) << e;
  EXPECT_NE(e.find("number overflow"), std::string::npos) << e;
  write_file(dir_ / "u.json", "{\"a\": \"\xff\"}");
  EXPECT_NE(error_of([&] { read_json_file(dir_ / "u.json"); }).find("u.json: not valid JSON"), std::string::npos);
}

TEST_F(FileIoTest, WriteErrorsNameThePathAndTheReason) {
  const std::string e = error_of([] {
    FileWriter w("/dev/full");
    w.write(std::string(100, 'x'));
    w.close();
  });
  EXPECT_NE(e.find("/dev/full: write failed: No space left on device"), std::string::npos) << e;
  EXPECT_NE(error_of([] { write_file("/dev/full", "x"); }).find("No space left on device"), std::string::npos);
  EXPECT_NE(error_of([&] { write_file(dir_ / "no" / "such" / "dir", "x"); }).find("cannot create"), std::string::npos);
  // Large writes go through too.
  const std::string big(3 << 20, 'y');
  write_file(dir_ / "big", big);
  EXPECT_EQ(read_file(dir_ / "big"), big);
}

}  // namespace
}  // namespace qwen3
