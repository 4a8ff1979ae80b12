// A job's output directory: created if missing, and never silently shared
// with another job's results.
#ifndef DESCENT_COMMON_STORAGE_OUTPUT_DIR_H_
#define DESCENT_COMMON_STORAGE_OUTPUT_DIR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace descent {

// What the coordinator writes: a directory holding any of these holds
// another job's results.
std::vector<std::string> JobResultEntries();

// JobResultEntries() and what `descent local` adds: config.textproto,
// processes.txt, logs/.
std::vector<std::string> LocalJobEntries();

// Makes `dir` ready for a new job. A missing `dir` is created. If it holds
// any of `entries` (names directly under it), FAILED_PRECONDITION naming
// them, unless `overwrite`: then exactly those entries are deleted and
// nothing else in `dir` is touched.
absl::Status ClaimOutputDir(const std::string& dir,
                            const std::vector<std::string>& entries,
                            bool overwrite);

}  // namespace descent

#endif  // DESCENT_COMMON_STORAGE_OUTPUT_DIR_H_
