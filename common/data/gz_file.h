// GzReader: a file read from start to end through zlib, so that a
// gzip-compressed file (recognized by its magic bytes 1f 8b, whatever its
// name) reads as its contents and any other file reads as it is. Every
// reader of data files (IDX, CSV, LIBSVM, rating triples) opens files with
// it, so each format reads ".gz" alike. Not thread-safe; distinct readers
// share nothing.
//
// Large gzip files are read through the data cache (data_cache.h): the
// first complete read keeps their decompressed bytes, later reads of the
// unchanged file come from that copy.
//
// Errors name the file: errno's canonical code (NOT_FOUND, ...) where it
// cannot be opened or read ("x.gz: cannot open: No such file or
// directory"), DATA_LOSS where its gzip stream is corrupt (with zlib's
// message).
#ifndef DESCENT_COMMON_DATA_GZ_FILE_H_
#define DESCENT_COMMON_DATA_GZ_FILE_H_

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/data/data_cache.h"

namespace descent {

class GzReader {
 public:
  static absl::StatusOr<GzReader> Open(const std::string& path);

  // Reads up to n bytes into buf, fewer only where the data ends (a gzip
  // stream cut short counts as ending, and truncated() then says so).
  // Fails on a read error or a corrupt stream.
  absl::StatusOr<int64_t> Read(void* buf, int64_t n);

  // The whole content's size in bytes where it is known before it is read:
  // a cached copy's length, an uncompressed file's size (known once Read
  // has been called); nullopt for a gzip stream.
  std::optional<int64_t> known_size() const;

  // True once Read has met the end of a gzip stream that was cut short.
  bool truncated() const { return truncated_; }
  const std::string& path() const { return path_; }
  // zlib's read buffer: the file's size where that is under 128 KiB, else
  // 128 KiB. A caller's own buffer need be no larger to read it in few
  // calls.
  int64_t buffer_bytes() const { return buffer_bytes_; }

 private:
  struct Closer {
    void operator()(gzFile file) const { gzclose(file); }
  };

  GzReader(std::string path, gzFile file, int64_t buffer_bytes)
      : path_(std::move(path)), file_(file), buffer_bytes_(buffer_bytes) {}
  GzReader(std::string path, std::unique_ptr<CachedCopy> cached);

  absl::StatusOr<int64_t> ReadStream(void* buf, int64_t n);

  // zlib prefixes its messages with the path given to gzopen.
  absl::string_view WithoutPathPrefix(absl::string_view message) const;

  std::string path_;
  std::unique_ptr<gzFile_s, Closer> file_;
  int64_t buffer_bytes_;
  bool truncated_ = false;
  // Exactly one of file_ and cached_ is set; fill_ while a read of file_
  // is being kept in the cache.
  std::unique_ptr<CachedCopy> cached_;
  std::unique_ptr<CacheFill> fill_;
};

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_GZ_FILE_H_
