#include "common/storage/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "zlib.h"

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

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return bytes.str();
}

uint32_t Crc32(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t at = 0;
  while (at < bytes.size()) {
    const uInt n =
        static_cast<uInt>(std::min<size_t>(bytes.size() - at, size_t{1} << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), n);
    at += n;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace descent
