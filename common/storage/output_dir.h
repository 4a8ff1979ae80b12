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

// Deletes what a process killed mid-write leaves in `dir`: the temporary
// files of `entries` (names directly under `dir` that begin with an
// entry's name followed by ".tmp", as "evals.svg.tmp" or
// "summary.json.tmp.4242"). Returns the names deleted; a file that cannot be
// deleted is left and not returned.
std::vector<std::string> RemoveStaleTemporaries(
    const std::string& dir, const std::vector<std::string>& entries);

}  // namespace descent

#endif  // DESCENT_COMMON_STORAGE_OUTPUT_DIR_H_
