// The files a job leaves in its output directory, which other tools (plots,
// comparisons, dashboards) read, so their names, columns and layout are
// stable:
//
//   evals.csv        one row per evaluation (kEvalsCsvHeader's columns): the
//                    periodic ones and the final one, on the validation
//                    split if the job has one (the test of the selected
//                    model is then in summary.json only), else on test
//   evals.svg        the same rows as a chart (server/eval_chart.h),
//                    redrawn after each row.
//   summary.json     the JobSummary message as JSON (ProtoJson: field names
//                    as in proto/descent/v1/coordinator.proto, numbers as
//                    numbers, only the fields that apply), written once at
//                    the end.
//   labels.json      where the data's class labels were encoded
//                    (common/data/class_labels.h): {"labels": [...]}, the
//                    label of class c at index c; written at the start.
//   best_params.bin  with early stopping: the parameters of the best
//                    evaluation, written once at the end, in this layout
//                    (every integer uint64, everything little-endian):
//
//     offset        size   what
//     0             8      magic "DSCTPRM1"
//     8             8      step: the global step of the evaluation
//     16            8      P: dense parameters
//     24            8      K: sparse rows (0 for dense models)
//     32            8      W: floats per sparse row (0 for dense models)
//     40            4P     the dense parameters, float32, in the model's
//                          ParamLayout order (common/model/param_layout.h)
//     40+4P         8K     the rows' keys, increasing
//     40+4P+8K      4KW    the rows, float32, row after row
//
//   Sparse models hold the rows the evaluation used: those of the test
//   set's keys (with validation data, of the validation and test sets').
//
//   rounds.csv       federated jobs: one row per round (kRoundsCsvHeader;
//                    v1::FederatedRound's fields), written at the end;
//   rounds.svg       its test accuracy and losses against the round (the
//                    chart's "step" axis is the round, 1-based);
//   partition.csv    federated jobs: each client's examples and labels
//                    (PartitionSummaryCsv), written at the start.
//   model/, best_model/  the trained model (last, and best with early
//                    stopping) as safetensors and a manifest: model_dir.h.
#ifndef DESCENT_SERVER_COORDINATOR_JOB_OUTPUT_H_
#define DESCENT_SERVER_COORDINATOR_JOB_OUTPUT_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/safetensors.h"  // JsonString
#include "descent/v1/coordinator.pb.h"
#include "server/coordinator/eval_chart.h"

namespace descent {

// A cell whose figure does not apply to the job or to the split the row
// measured (accuracy of a regression model; test_* when the rows measure
// validation) is empty. Columns after test_auc came later: read by name.
inline constexpr char kEvalsCsvHeader[] =
    "step,epoch,wall_seconds,train_loss,test_loss,test_accuracy,test_rmse,"
    "test_auc,parameter_version,due_step,validation_loss,validation_accuracy,"
    "validation_rmse,validation_auc";

// Appends evaluations to evals.csv, one flushed row each, so the file is
// readable while the job runs, and after each one atomically rewrites the
// chart beside it: `path` with the extension .svg (evals.svg). Not
// thread-safe.
class EvalLog {
 public:
  // Creates (truncates) `path`, writes the header, and tries to write the
  // chart of no rows. Errors name evals.csv.
  static absl::StatusOr<std::unique_ptr<EvalLog>> Create(
      const std::string& path);
  ~EvalLog();

  // Errors name evals.csv. The chart is only a view of it: a chart that
  // cannot be written (a full disk) is logged once as a warning, skipped,
  // and tried again after the next row, never an error.
  absl::Status Append(const v1::Evaluation& evaluation);

 private:
  EvalLog(std::string path, std::string chart_path, std::FILE* file)
      : path_(std::move(path)),
        chart_path_(std::move(chart_path)),
        file_(file) {}

  const std::string path_;
  const std::string chart_path_;
  std::FILE* const file_;
  // Redraws the chart from rows_; see Append.
  void DrawChart();

  std::vector<EvalRow> rows_;  // every row appended, for the chart
  bool chart_ok_ = true;       // the last drawing succeeded
};

inline constexpr char kRoundsCsvHeader[] =
    "round,attempts,sampled,participants,dropped,late,examples,update_norm,"
    "train_loss,test_accuracy,test_loss,client_accuracy_mean,"
    "client_accuracy_p10,seconds,simulated_seconds,epsilon,epsilon_tight,"
    "clip_norm,secure_clients,secure_dropped";

// Writes rounds.csv (`path`, ending in .csv) and rounds.svg beside it,
// atomically; a figure a round lacks is an empty cell.
absl::Status WriteRounds(const std::string& path,
                         const std::vector<v1::FederatedRound>& rounds);

// Writes `summary` to `path` as JSON, atomically.
absl::Status WriteSummary(const std::string& path,
                          const v1::JobSummary& summary);

// Writes labels.json's {"labels": [...]} to `path`, atomically.
absl::Status WriteLabels(const std::string& path,
                         const std::vector<std::string>& labels);

// The contents of best_params.bin.
struct SavedParameters {
  int64_t step = 0;
  std::vector<float> dense;
  std::vector<uint64_t> keys;  // sparse rows' keys, increasing
  int64_t row_width = 0;       // 0 without rows
  std::vector<float> rows;     // keys.size() x row_width
};

// Writes `params` to `path` in best_params.bin's layout, atomically.
// INVALID_ARGUMENT if rows.size() != keys.size() * row_width.
absl::Status WriteParameters(const std::string& path,
                             const SavedParameters& params);

// Reads a file WriteParameters wrote. NOT_FOUND if it cannot be opened;
// DATA_LOSS, naming the path, if it is not in that layout.
absl::StatusOr<SavedParameters> ReadParameters(const std::string& path);

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_JOB_OUTPUT_H_
