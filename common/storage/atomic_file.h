// Writing a file so that readers see either the old contents or the new,
// never a torn mix, even across a crash: write a temporary file beside the
// target, fsync it, rename it over the target, fsync the directory.
#ifndef DESCENT_COMMON_STORAGE_ATOMIC_FILE_H_
#define DESCENT_COMMON_STORAGE_ATOMIC_FILE_H_

#include <string>

#include "absl/status/status.h"

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

}  // namespace descent

#endif  // DESCENT_COMMON_STORAGE_ATOMIC_FILE_H_
