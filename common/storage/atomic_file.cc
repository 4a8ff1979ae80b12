#include "common/storage/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace descent {
namespace {

absl::Status Errno(const std::string& path, const char* step) {
  return absl::InternalError(
      absl::StrCat(path, ": ", step, " failed: ", std::strerror(errno)));
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status WriteAll(int fd, const std::string& contents,
                      const std::string& path) {
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n =
        ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(path, "write");
    written += n;
  }
  if (::fsync(fd) != 0) return Errno(path, "fsync");
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileSynced(const std::string& path,
                             const std::string& contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(path, "open");
  absl::Status status = WriteAll(fd, contents, path);
  if (::close(fd) != 0 && status.ok()) status = Errno(path, "close");
  return status;
}

absl::Status SyncDirectory(const std::string& dir) {
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Errno(dir, "open directory");
  absl::Status status = absl::OkStatus();
  if (::fsync(dir_fd) != 0) status = Errno(dir, "fsync directory");
  ::close(dir_fd);
  return status;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents) {
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  absl::Status status = WriteFileSynced(temp, contents);
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = Errno(path, "rename");
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return SyncDirectory(DirectoryOf(path));
}

}  // namespace descent
