// The two files a job leaves in its output directory, which other tools
// (plots, comparisons, dashboards) read, so their names and columns are
// stable:
//
//   evals.csv     one row per evaluation:
//                 step,epoch,wall_seconds,train_loss,test_loss,test_accuracy
//   summary.json  the JobSummary message as proto3 JSON (field names as in
//                 proto/descent/v1/coordinator.proto), written once at the end.
#ifndef DESCENT_SERVER_JOB_OUTPUT_H_
#define DESCENT_SERVER_JOB_OUTPUT_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "descent/v1/coordinator.pb.h"

namespace descent {

inline constexpr char kEvalsCsvHeader[] =
    "step,epoch,wall_seconds,train_loss,test_loss,test_accuracy,test_rmse,"
    "test_auc";

// Appends evaluations to evals.csv, one flushed row each, so the file is
// readable while the job runs. Not thread-safe.
class EvalLog {
 public:
  // Creates (truncates) `path` and writes the header. Errors name the path.
  static absl::StatusOr<std::unique_ptr<EvalLog>> Create(
      const std::string& path);
  ~EvalLog();

  absl::Status Append(const v1::Evaluation& evaluation);

 private:
  EvalLog(std::string path, std::FILE* file)
      : path_(std::move(path)), file_(file) {}

  const std::string path_;
  std::FILE* const file_;
};

// Writes `summary` to `path` as JSON, atomically.
absl::Status WriteSummary(const std::string& path,
                          const v1::JobSummary& summary);

}  // namespace descent

#endif  // DESCENT_SERVER_JOB_OUTPUT_H_
