#include "common/data/gz_file.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "glog/logging.h"

namespace descent {
namespace {

// zlib's read buffer (it allocates twice as much again for output): large
// files read in large pieces, a small one needs no more than its size.
constexpr int64_t kMaxBufferBytes = 1 << 17;
constexpr int64_t kMinBufferBytes = 1 << 10;

int64_t BufferBytesFor(const std::string& path) {
  std::error_code error;
  const std::uintmax_t bytes = std::filesystem::file_size(path, error);
  if (error || bytes >= static_cast<std::uintmax_t>(kMaxBufferBytes)) {
    return kMaxBufferBytes;
  }
  return std::max(static_cast<int64_t>(bytes) + 1, kMinBufferBytes);
}

}  // namespace

absl::StatusOr<GzReader> GzReader::Open(const std::string& path) {
  // Only gzip streams get a copy, so a plain file finds none here.
  std::optional<SourceStamp> stamp = StampSource(path);
  std::optional<std::string> cache_dir;
  if (stamp.has_value() &&
      static_cast<int64_t>(stamp->size) >= kMinCachedBytes) {
    cache_dir = DataCacheDirectory();
  }
  if (cache_dir.has_value()) {
    if (auto cached = CachedCopy::Open(*cache_dir, *stamp)) {
      VLOG(1) << path << ": reading the cached copy " << cached->path();
      return GzReader(path, std::move(cached));
    }
  }
  errno = 0;
  gzFile file = gzopen(path.c_str(), "rbe");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno == 0 ? ENOMEM : errno,
                               absl::StrCat(path, ": cannot open"));
  }
  const int64_t buffer_bytes = BufferBytesFor(path);
  gzbuffer(file, static_cast<unsigned>(buffer_bytes));
  GzReader reader(path, file, buffer_bytes);
  // gzdirect reads the file's first bytes: 0 for a gzip stream.
  if (cache_dir.has_value() && gzdirect(file) == 0) {
    reader.fill_ = CacheFill::Begin(*cache_dir, *stamp);
  }
  return reader;
}

GzReader::GzReader(std::string path, std::unique_ptr<CachedCopy> cached)
    : path_(std::move(path)),
      buffer_bytes_(kMaxBufferBytes),
      cached_(std::move(cached)) {}

absl::StatusOr<int64_t> GzReader::Read(void* buf, int64_t n) {
  if (cached_ != nullptr) return cached_->Read(buf, n);
  ASSIGN_OR_RETURN(const int64_t got, ReadStream(buf, n));
  if (fill_ != nullptr) {
    // The copy is committed only once the stream has ended whole: zlib has
    // checked its trailer by the time it reads short without an error.
    bool keep = fill_->Append(buf, got);
    if (keep && got < n) {
      if (!truncated_) fill_->Commit();
      keep = false;
    }
    if (!keep) fill_.reset();
  }
  return got;
}

std::optional<int64_t> GzReader::known_size() const {
  if (cached_ != nullptr) return cached_->length();
  if (gzdirect(file_.get()) != 1) return std::nullopt;
  std::error_code error;
  const std::uintmax_t bytes = std::filesystem::file_size(path_, error);
  if (error) return std::nullopt;
  return static_cast<int64_t>(bytes);
}

absl::StatusOr<int64_t> GzReader::ReadStream(void* buf, int64_t n) {
  const int got = gzread(file_.get(), buf, static_cast<unsigned>(n));
  const int saved_errno = errno;
  int code = Z_OK;
  const char* message = gzerror(file_.get(), &code);
  if (code == Z_BUF_ERROR) truncated_ = true;
  if (code == Z_OK || code == Z_BUF_ERROR) return std::max(got, 0);
  if (code == Z_ERRNO) {
    return absl::ErrnoToStatus(saved_errno,
                               absl::StrCat(path_, ": cannot read"));
  }
  return absl::DataLossError(absl::StrCat(
      path_, ": corrupt gzip stream: ", WithoutPathPrefix(message)));
}

absl::string_view GzReader::WithoutPathPrefix(absl::string_view message) const {
  const std::string prefix = absl::StrCat(path_, ": ");
  if (absl::StartsWith(message, prefix)) message.remove_prefix(prefix.size());
  return message;
}

}  // namespace descent
