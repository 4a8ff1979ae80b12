#include "common/data/gz_file.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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
  errno = 0;
  gzFile file = gzopen(path.c_str(), "rbe");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno == 0 ? ENOMEM : errno,
                               absl::StrCat(path, ": cannot open"));
  }
  const int64_t buffer_bytes = BufferBytesFor(path);
  gzbuffer(file, static_cast<unsigned>(buffer_bytes));
  return GzReader(path, file, buffer_bytes);
}

absl::StatusOr<int64_t> GzReader::Read(void* buf, int64_t n) {
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
