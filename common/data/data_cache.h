// The data cache: the decompressed bytes of large gzip-compressed input
// files, kept on local disk so that a job's processes, and the next job,
// read them at the speed of a file copy instead of inflating them again
// (inflating Fashion-MNIST's training images takes about 0.3 s here; its
// cached copy reads in about 0.03 s). GzReader uses it; nothing else need.
//
// Where: $DESCENT_DATA_CACHE, else $XDG_CACHE_HOME/descent/data, else
// $HOME/.cache/descent/data; DESCENT_DATA_CACHE=off (or an empty value)
// turns it off. Only gzip files of at least kMinCachedBytes are cached.
//
// A cached copy is the stream's whole decompressed content behind a header
// that names its source (canonical path, size, modification time, inode,
// device) and carries the content's length and CRC-32: a source that has
// changed in any of those is not served from the cache, and a copy whose
// bytes do not match its CRC is removed and the source read instead (the
// CRC is checked before the copy is served; one cut while it is read fails
// that read). Copies are written
// to a temporary file beside the final name and renamed into place once the
// whole stream has been read and zlib has verified its trailer, so readers
// never see a partial copy and concurrent writers do not collide. Temporary
// files of processes that died are removed by the next writer of the same
// copy. Any failure to use the cache (unwritable directory, full disk) only
// means the file is read from its source, as without a cache.
#ifndef DESCENT_COMMON_DATA_DATA_CACHE_H_
#define DESCENT_COMMON_DATA_DATA_CACHE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace descent {

// Compressed sources smaller than this are not cached: they inflate in
// milliseconds.
inline constexpr int64_t kMinCachedBytes = int64_t{1} << 20;

// What identifies a source file's content for the cache.
struct SourceStamp {
  std::string path;  // canonical
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint64_t device = 0;
};

// The cache directory the environment names, created if missing; nullopt
// where the cache is off or the directory cannot be made.
std::optional<std::string> DataCacheDirectory();

// Stamps `path` (stat and canonical path); nullopt if it cannot be stat'ed.
std::optional<SourceStamp> StampSource(const std::string& path);

// A cached copy being read: its content, in order, then a check of its
// length and CRC at the end.
class CachedCopy {
 public:
  // The copy of `source` in `dir`, if one is there, matches it and its
  // content matches its CRC (one that does not is removed).
  static std::unique_ptr<CachedCopy> Open(const std::string& dir,
                                          const SourceStamp& source);
  ~CachedCopy();

  // Like GzReader::Read. Fails with DATA_LOSS (naming the copy, which it
  // removes) if the copy ends before its length: it was cut after Open
  // checked it.
  absl::StatusOr<int64_t> Read(void* buf, int64_t n);
  const std::string& path() const { return path_; }
  // The content's length in bytes.
  int64_t length() const { return static_cast<int64_t>(length_); }

 private:
  CachedCopy(std::string path, int fd, uint64_t length)
      : path_(std::move(path)), fd_(fd), length_(length) {}

  std::string path_;
  int fd_;
  uint64_t length_;
  uint64_t read_ = 0;
};

// A copy being written while its source is inflated.
class CacheFill {
 public:
  // Starts a copy of `source` in `dir`; nullptr if its temporary file
  // cannot be created.
  static std::unique_ptr<CacheFill> Begin(const std::string& dir,
                                          const SourceStamp& source);
  // Removes the temporary file unless Commit succeeded.
  ~CacheFill();

  // Appends decompressed bytes; false (and the copy is abandoned) if the
  // write fails.
  bool Append(const void* bytes, int64_t n);
  // The stream has ended and zlib verified it: writes the header and
  // renames the copy into place. False if that failed (nothing is left).
  bool Commit();

 private:
  CacheFill(std::string final_path, std::string temp_path, int fd,
            SourceStamp source)
      : final_path_(std::move(final_path)),
        temp_path_(std::move(temp_path)),
        fd_(fd),
        source_(std::move(source)) {}

  std::string final_path_;
  std::string temp_path_;
  int fd_;
  SourceStamp source_;
  uint64_t length_ = 0;
  uint32_t crc_ = 0;
  bool committed_ = false;
};

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_DATA_CACHE_H_
