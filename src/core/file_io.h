// Reading and writing whole files, with one-line errors (core/error.h) that name the file and say
// what is wrong with it. Every reader of a model folder goes through these, so that a FIFO, a
// directory or a dangling link in place of a file is refused the same way everywhere: open() on a
// FIFO would block until a writer appears, so the kind of file is checked with stat() (which
// follows symlinks: a link to a regular file is fine) before anything opens it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qwen3 {

class Progress;

// Throws unless `path`, symlinks followed, is a regular file: "is a FIFO", "is a directory",
// "is a dangling symbolic link", "does not exist", ...
void require_regular_file(const std::filesystem::path& path);

// False when nothing is at `path` (an optional file that is absent); true for a regular file;
// throws for anything else (a directory, a FIFO, a dangling or looping symlink): a file that is
// there but unreadable is an error, not an absence.
bool regular_file_exists(const std::filesystem::path& path);

// A read-only descriptor of a regular file, checked twice: stat() before open() (so a FIFO is
// never opened), and fstat() after it (in case the path was swapped in between). The caller
// closes it.
int open_regular_file(const std::filesystem::path& path);

// The whole file.
std::string read_file(const std::filesystem::path& path);

// A file being written: buffered, every write checked, and close() reports what the kernel
// reports (a full disk often shows up only at close). Errors name the path and give strerror.
// Destroyed without close() (an exception is on its way), it closes the descriptor quietly.
class FileWriter {
 public:
  explicit FileWriter(const std::filesystem::path& path);
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  ~FileWriter();

  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  // The same in pieces of 64 MiB, each added to `progress` (a tensor of a large checkpoint).
  void write(const void* data, size_t n, Progress& progress);
  void close();  // flush, then close(2); throws on any failure
  const std::filesystem::path& path() const { return path_; }

 private:
  void flush();
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<uint8_t> buf_;
  size_t used_ = 0;
};

// Writes `text` to `path` (created or truncated), checking every step.
void write_file(const std::filesystem::path& path, const std::string& text);

}  // namespace qwen3
