#include "core/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/progress.h"

namespace qwen3 {
namespace {

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// stat() failed with `err`: say why in the user's terms.
[[noreturn]] void fail_stat(const std::filesystem::path& path, int err) {
  struct stat lst {};
  if (err == ENOENT && ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(path, ec);
    fail("{}: is a dangling symbolic link (to '{}')", path.string(), ec ? std::string("?") : target.string());
  }
  if (err == ELOOP) fail("{}: is a symbolic link loop ({})", path.string(), std::strerror(err));
  if (err == ENOENT) fail("{}: does not exist", path.string());
  fail("{}: cannot stat: {}", path.string(), std::strerror(err));
}

void check_mode(const std::filesystem::path& path, mode_t m) {
  if (S_ISREG(m)) return;
  const char* k = kind_of(m);
  if (std::strcmp(k, "not a regular file") == 0) fail("{}: is not a regular file", path.string());
  fail("{}: is {}, not a regular file", path.string(), k);
}

}  // namespace

void require_regular_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_stat(path, errno);
  check_mode(path, st.st_mode);
}

bool regular_file_exists(const std::filesystem::path& path) {
  struct stat st {}, lst {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT && ::lstat(path.c_str(), &lst) != 0) return false;  // nothing there, not even a link
    fail_stat(path, err);
  }
  check_mode(path, st.st_mode);
  return true;
}

int open_regular_file(const std::filesystem::path& path) {
  require_regular_file(path);
  // O_NONBLOCK: should the path have become a FIFO since the stat, open() still returns.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail("{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", path.string(), std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    check_mode(path, st.st_mode);
  }
  return fd;
}

std::string read_file(const std::filesystem::path& path) {
  const int fd = open_regular_file(path);
  std::string s;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) s.reserve(size_t(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      fail("{}: cannot read: {}", path.string(), std::strerror(e));
    }
    s.append(buf, size_t(n));
  }
  ::close(fd);
  return s;
}

FileWriter::FileWriter(const std::filesystem::path& path) : path_(path), buf_(size_t(1) << 20) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("{}: cannot create: {}", path.string(), std::strerror(errno));
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

void write_all(int fd, const std::filesystem::path& path, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("{}: write failed: {}", path.string(), std::strerror(errno));
    }
    if (w == 0) fail("{}: write failed: wrote nothing", path.string());
    p += w;
    n -= size_t(w);
  }
}

}  // namespace

void FileWriter::flush() {
  write_all(fd_, path_, buf_.data(), used_);
  used_ = 0;
}

void FileWriter::write(const void* data, size_t n) {
  if (fd_ < 0) fail("{}: write after close", path_.string());
  const uint8_t* p = static_cast<const uint8_t*>(data);
  if (n >= buf_.size()) {  // a tensor: straight from the caller's memory, no copy through the buffer
    flush();
    return write_all(fd_, path_, p, n);
  }
  while (n > 0) {
    const size_t k = std::min(n, buf_.size() - used_);
    std::memcpy(buf_.data() + used_, p, k);
    used_ += k, p += k, n -= k;
    if (used_ == buf_.size()) flush();
  }
}

void FileWriter::write(const void* data, size_t n, Progress& progress) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t off = 0; off < n;) {
    const size_t k = std::min(n - off, size_t(64) << 20);
    write(p + off, k);
    off += k;
    progress.add(int64_t(k));
  }
}

void FileWriter::close() {
  if (fd_ < 0) return;
  flush();
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("{}: write failed at close: {}", path_.string(), std::strerror(errno));
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  FileWriter w(path);
  w.write(text);
  w.close();
}

}  // namespace qwen3
