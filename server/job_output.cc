#include "server/job_output.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint/atomic_file.h"
#include "google/protobuf/util/json_util.h"

namespace descent {

absl::StatusOr<std::unique_ptr<EvalLog>> EvalLog::Create(
    const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
  }
  std::unique_ptr<EvalLog> log(new EvalLog(path, file));
  if (std::fprintf(file, "%s\n", kEvalsCsvHeader) < 0 ||
      std::fflush(file) != 0) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  }
  return log;
}

EvalLog::~EvalLog() { std::fclose(file_); }

absl::Status EvalLog::Append(const v1::Evaluation& e) {
  const std::string row = absl::StrFormat(
      "%d,%.6f,%.3f,%.6f,%.6f,%.6f,%.6f,%.6f\n", e.step(), e.epoch(),
      e.wall_seconds(), e.train_loss(), e.test_loss(), e.test_accuracy(),
      e.test_rmse(), e.test_auc());
  if (std::fputs(row.c_str(), file_) < 0 || std::fflush(file_) != 0) {
    return absl::InternalError(
        absl::StrCat(path_, ": cannot write: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteSummary(const std::string& path,
                          const v1::JobSummary& summary) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status =
      google::protobuf::util::MessageToJsonString(summary, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("summary to JSON: ", status.ToString()));
  }
  return WriteFileAtomically(path, json);
}

}  // namespace descent
