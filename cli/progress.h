// What `descent local` shows a person: one progress line on stderr
// (rewritten in place on a terminal, one line per update otherwise) and the
// final result on stdout, read back from the job's summary.json.
#ifndef DESCENT_CLI_PROGRESS_H_
#define DESCENT_CLI_PROGRESS_H_

#include <string>

#include "descent/v1/coordinator.pb.h"

namespace descent {

// Not thread-safe.
class ProgressDisplay {
 public:
  explicit ProgressDisplay(const v1::JobConfig& config);

  // Shows `status` as one line: step, epoch (a federated job's round
  // instead), loss, test accuracy, samples/s and ETA; or, while
  // registering, who is still missing.
  void Show(const v1::JobStatus& status);
  // Ends the progress line so other messages start on a fresh line.
  void Clear();

  // The line Show prints, without terminal control characters.
  std::string Format(const v1::JobStatus& status) const;

 private:
  const int epochs_;
  // Federated jobs: rounds (0 otherwise) and workers (a round is a step of
  // each).
  const int64_t rounds_;
  const int workers_;
  const int members_;  // servers + workers
  const bool terminal_;
  bool line_open_ = false;
};

// The job's result as "key: value" lines: state, test_accuracy
// (classifiers), test_loss, steps, epochs, wall_seconds,
// samples_per_second, output; then the figures only some jobs have (RMSE,
// AUC, validation, planted model), selected_on, and with early stopping
// best_step and stopped_early. A field the summary lacks (it does not apply
// to the job) is not printed.
std::string FormatResult(const v1::JobSummary& summary,
                         const std::string& output_dir);

// Prints FormatResult of `output_dir`/summary.json on stdout, after the
// summary's data warnings on stderr. Returns 0, or
// 5 (job failed) if the summary is missing, unreadable or not SUCCEEDED.
int PrintResult(const std::string& output_dir);

}  // namespace descent

#endif  // DESCENT_CLI_PROGRESS_H_
