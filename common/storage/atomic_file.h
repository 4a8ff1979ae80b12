// Writing a file so that readers see either the old contents or the new,
// never a torn mix, even across a crash: write a temporary file beside the
// target, fsync it, rename it over the target, fsync the directory.
#ifndef DESCENT_COMMON_STORAGE_ATOMIC_FILE_H_
#define DESCENT_COMMON_STORAGE_ATOMIC_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace descent {

// Replaces `path` with `contents`. On error the target is unchanged and the
// temporary file removed; the error names the path and the failing step.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents);

// Writes `contents` to `path` (created or truncated) and fsyncs it; not
// atomic on its own. Errors name the path and the failing step.
absl::Status WriteFileSynced(const std::string& path,
                             const std::string& contents);

// Fsyncs directory `dir`, so that renames and new entries in it persist.
absl::Status SyncDirectory(const std::string& dir);

// The whole of file `path`. NOT_FOUND naming it if it cannot be opened,
// DATA_LOSS if reading fails.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// zlib's CRC-32 of `bytes`, for the checksums checkpoint manifests list.
uint32_t Crc32(const std::string& bytes);

}  // namespace descent

#endif  // DESCENT_COMMON_STORAGE_ATOMIC_FILE_H_
