#include "common/data/data_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"

namespace descent {
namespace {

constexpr char kMagic[8] = {'D', 'S', 'C', 'N', 'R', 'A', 'W', '1'};

// What precedes a copy's content, then the source's path (path_bytes).
struct Header {
  char magic[8];
  uint64_t length;
  uint32_t crc;
  uint32_t path_bytes;
  uint64_t size;
  int64_t mtime_ns;
  uint64_t inode;
  uint64_t device;
};

uint32_t Crc(uint32_t crc, const void* bytes, int64_t n) {
  return static_cast<uint32_t>(
      crc32_z(crc, static_cast<const Bytef*>(bytes), static_cast<size_t>(n)));
}

// `source`'s copy in `dir`: its file name, then a hash of its whole path
// (two sources of one name do not share a copy).
std::string CopyPath(const std::string& dir, const SourceStamp& source) {
  const std::string name = std::filesystem::path(source.path).filename();
  return absl::StrFormat("%s/%s.%08x.raw", dir, name,
                         Crc(0, source.path.data(), source.path.size()));
}

bool SameSource(const Header& header, const SourceStamp& source) {
  return header.size == source.size && header.mtime_ns == source.mtime_ns &&
         header.inode == source.inode && header.device == source.device &&
         header.path_bytes == source.path.size();
}

bool ReadFully(int fd, void* buf, size_t n) {
  char* out = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = read(fd, out, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool WriteFully(int fd, const void* buf, size_t n, off_t offset) {
  const char* in = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t put = pwrite(fd, in, n, offset);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    in += put;
    offset += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

// Removes the temporary files of `final_path` whose writer has died (their
// names end in ".tmp.<pid>.<random>").
void RemoveOrphans(const std::string& dir, const std::string& final_path) {
  const std::string prefix = absl::StrCat(
      std::filesystem::path(final_path).filename().string(), ".tmp.");
  DIR* listing = opendir(dir.c_str());
  if (listing == nullptr) return;
  while (const dirent* entry = readdir(listing)) {
    const absl::string_view name = entry->d_name;
    if (!absl::StartsWith(name, prefix)) continue;
    const absl::string_view rest = name.substr(prefix.size());
    int pid = 0;
    if (!absl::SimpleAtoi(rest.substr(0, rest.find('.')), &pid) || pid <= 0) {
      continue;
    }
    if (kill(pid, 0) != 0 && errno == ESRCH) {
      unlink(absl::StrCat(dir, "/", name).c_str());
    }
  }
  closedir(listing);
}

}  // namespace

std::optional<std::string> DataCacheDirectory() {
  std::string dir;
  if (const char* named = std::getenv("DESCENT_DATA_CACHE")) {
    dir = named;
    if (dir.empty() || dir == "off") return std::nullopt;
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    dir = absl::StrCat(xdg, "/descent/data");
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    dir = absl::StrCat(home, "/.cache/descent/data");
  } else {
    return std::nullopt;
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error || !std::filesystem::is_directory(dir, error)) {
    VLOG(1) << "data cache " << dir << " unusable: " << error.message();
    return std::nullopt;
  }
  return dir;
}

std::optional<SourceStamp> StampSource(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return std::nullopt;
  std::error_code error;
  SourceStamp stamp;
  stamp.path = std::filesystem::canonical(path, error).string();
  if (error) stamp.path = path;
  stamp.size = static_cast<uint64_t>(info.st_size);
  stamp.mtime_ns =
      int64_t{info.st_mtim.tv_sec} * 1000000000 + info.st_mtim.tv_nsec;
  stamp.inode = info.st_ino;
  stamp.device = info.st_dev;
  return stamp;
}

std::unique_ptr<CachedCopy> CachedCopy::Open(const std::string& dir,
                                             const SourceStamp& source) {
  std::string path = CopyPath(dir, source);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  Header header;
  std::string named(source.path.size(), '\0');
  struct stat info;
  const bool usable = ReadFully(fd, &header, sizeof(header)) &&
                      std::memcmp(header.magic, kMagic, sizeof(kMagic)) == 0 &&
                      SameSource(header, source) &&
                      ReadFully(fd, named.data(), named.size()) &&
                      named == source.path && fstat(fd, &info) == 0 &&
                      static_cast<uint64_t>(info.st_size) ==
                          sizeof(header) + header.path_bytes + header.length;
  if (!usable) {
    close(fd);
    return nullptr;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // Checked whole before it is served (a pass over a page-cached copy costs
  // a fraction of inflating the source), so that a corrupt copy means
  // reading the source rather than a failed read.
  const off_t content = static_cast<off_t>(sizeof(header) + named.size());
  std::vector<char> buffer(std::min<uint64_t>(header.length, 1 << 20));
  uint32_t crc = 0;
  for (uint64_t left = header.length; left > 0;) {
    const size_t piece = std::min<uint64_t>(left, buffer.size());
    if (!ReadFully(fd, buffer.data(), piece)) break;
    crc = Crc(crc, buffer.data(), static_cast<int64_t>(piece));
    left -= piece;
  }
  if (crc != header.crc || lseek(fd, content, SEEK_SET) != content) {
    LOG(WARNING) << path << ": cached decompressed copy of " << source.path
                 << " is corrupt (CRC " << absl::StrFormat("%08x", crc)
                 << " where its header says "
                 << absl::StrFormat("%08x", header.crc)
                 << "); removed it, reading the source";
    close(fd);
    unlink(path.c_str());
    return nullptr;
  }
  return std::unique_ptr<CachedCopy>(
      new CachedCopy(std::move(path), fd, header.length));
}

CachedCopy::~CachedCopy() { close(fd_); }

absl::StatusOr<int64_t> CachedCopy::Read(void* buf, int64_t n) {
  char* out = static_cast<char*>(buf);
  int64_t got = 0;
  while (got < n) {
    const ssize_t piece = read(fd_, out + got, static_cast<size_t>(n - got));
    if (piece < 0 && errno == EINTR) continue;
    if (piece < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat(path_, ": cannot read"));
    }
    if (piece == 0) break;
    got += piece;
  }
  read_ += static_cast<uint64_t>(got);
  // Open checked the content against its CRC; a copy that ends early has
  // been cut since (a copy is only ever replaced whole, by rename).
  if (got < n && read_ != length_) {
    unlink(path_.c_str());
    return absl::DataLossError(absl::StrFormat(
        "%s: cached decompressed copy changed while it was read (ends after "
        "%d of %d bytes); removed it, so the next read decompresses the "
        "source again",
        path_, read_, length_));
  }
  return got;
}

std::unique_ptr<CacheFill> CacheFill::Begin(const std::string& dir,
                                            const SourceStamp& source) {
  std::string final_path = CopyPath(dir, source);
  RemoveOrphans(dir, final_path);
  std::string temp_path =
      absl::StrFormat("%s.tmp.%d.%016x", final_path, getpid(),
                      std::random_device{}() * uint64_t{0x100000001});
  const int fd =
      open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return nullptr;
  return std::unique_ptr<CacheFill>(
      new CacheFill(std::move(final_path), std::move(temp_path), fd, source));
}

CacheFill::~CacheFill() {
  if (fd_ >= 0) close(fd_);
  if (!committed_) unlink(temp_path_.c_str());
}

bool CacheFill::Append(const void* bytes, int64_t n) {
  if (fd_ < 0) return false;
  const off_t offset =
      static_cast<off_t>(sizeof(Header) + source_.path.size() + length_);
  if (!WriteFully(fd_, bytes, static_cast<size_t>(n), offset)) {
    close(fd_);
    fd_ = -1;
    return false;
  }
  crc_ = Crc(crc_, bytes, n);
  length_ += static_cast<uint64_t>(n);
  return true;
}

bool CacheFill::Commit() {
  if (fd_ < 0) return false;
  Header header;
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.length = length_;
  header.crc = crc_;
  header.path_bytes = static_cast<uint32_t>(source_.path.size());
  header.size = source_.size;
  header.mtime_ns = source_.mtime_ns;
  header.inode = source_.inode;
  header.device = source_.device;
  const bool written =
      WriteFully(fd_, &header, sizeof(header), 0) &&
      WriteFully(fd_, source_.path.data(), source_.path.size(), sizeof(header));
  const bool closed = close(fd_) == 0;
  fd_ = -1;
  if (!written || !closed ||
      rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    return false;
  }
  committed_ = true;
  return true;
}

}  // namespace descent
