// The input files a job's data config names, checked before a job starts:
// a missing or unreadable file is reported at once, by field and path,
// rather than by a process that fails after the others started.
#ifndef DESCENT_COMMON_DATA_INPUT_FILES_H_
#define DESCENT_COMMON_DATA_INPUT_FILES_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "descent/v1/job.pb.h"

namespace descent {

// (field path, file) for every file `data` names: the non-empty string
// fields of its chosen source (data.csv, data.idx, ...) that name files:
// `train`, `test`, `validation`, and any field ending in `_images`,
// `_labels` or `_file`.
std::vector<std::pair<std::string, std::string>> InputFiles(
    const v1::DataConfig& data);

// OK if every one of InputFiles(data) is a readable regular file; else
// NOT_FOUND (or PERMISSION_DENIED) naming every file that is not, as
// "data.csv.train: /x/train.csv: No such file or directory".
absl::Status CheckInputFiles(const v1::DataConfig& data);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_INPUT_FILES_H_
