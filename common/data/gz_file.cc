#include "common/data/gz_file.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace descent {

absl::StatusOr<GzReader> GzReader::Open(const std::string& path) {
  errno = 0;
  gzFile file = gzopen(path.c_str(), "rbe");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno == 0 ? ENOMEM : errno,
                               absl::StrCat(path, ": cannot open"));
  }
  gzbuffer(file, 1 << 17);
  return GzReader(path, file);
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
