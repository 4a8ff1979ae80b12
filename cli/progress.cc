#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/config/job_options.h"
#include "common/exit_codes.h"
#include "google/protobuf/util/json_util.h"

namespace descent {

ProgressDisplay::ProgressDisplay(const v1::JobConfig& config)
    : epochs_(config.train().epochs()),
      members_(config.cluster().num_servers() + config.cluster().num_workers()),
      terminal_(::isatty(STDERR_FILENO) == 1) {}

std::string ProgressDisplay::Format(const v1::JobStatus& status) const {
  if (status.state() == v1::REGISTERING) {
    // The coordinator lists itself among the members.
    return absl::StrFormat("registering: %d of %d servers and workers",
                           status.members_size() - 1, members_);
  }
  std::string line = absl::StrFormat(
      "step %d | epoch %.2f/%d", status.global_step(), status.epoch(), epochs_);
  if (status.global_step() > 0) {
    absl::StrAppendFormat(&line, " | loss %.4f", status.train_loss());
  }
  if (status.has_last_evaluation()) {
    const v1::Evaluation& e = status.last_evaluation();
    if (e.test_rmse() > 0) {
      absl::StrAppendFormat(&line, " | test rmse %.4f", e.test_rmse());
    } else {
      absl::StrAppendFormat(&line, " | test acc %.4f", e.test_accuracy());
    }
    if (e.test_auc() > 0) {
      absl::StrAppendFormat(&line, " | test auc %.4f", e.test_auc());
    }
  }
  absl::StrAppendFormat(&line, " | %.0f samples/s",
                        status.samples_per_second());
  const int64_t left = status.total_examples() - status.examples();
  if (status.samples_per_second() > 0 && left > 0) {
    absl::StrAppendFormat(&line, " | ETA %.0fs",
                          left / status.samples_per_second());
  }
  return line;
}

void ProgressDisplay::Show(const v1::JobStatus& status) {
  const std::string line = Format(status);
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    line_open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

void ProgressDisplay::Clear() {
  if (!line_open_) return;
  std::fprintf(stderr, "\n");
  line_open_ = false;
}

int PrintResult(const std::string& output_dir) {
  const std::string path = output_dir + "/summary.json";
  std::ifstream in(path);
  std::stringstream json;
  json << in.rdbuf();
  v1::JobSummary summary;
  if (!in ||
      !google::protobuf::util::JsonStringToMessage(json.str(), &summary).ok()) {
    std::fprintf(stderr, "descent local: cannot read %s\n", path.c_str());
    return kExitJobFailed;
  }
  // The coordinator's warnings about the data (also in its log), repeated
  // where they are seen, beside the result they may explain.
  for (const std::string& warning : summary.data().warnings()) {
    std::fprintf(stderr, "descent local: warning: data: %s\n", warning.c_str());
  }
  std::printf(
      "state: %s\ntest_accuracy: %.4f\ntest_loss: %.4f\nsteps: %d\n"
      "epochs: %.2f\nwall_seconds: %.2f\nsamples_per_second: %.0f\noutput: "
      "%s\n",
      summary.state().c_str(), summary.test_accuracy(), summary.test_loss(),
      summary.steps(), summary.epochs(), summary.wall_seconds(),
      summary.samples_per_second(), output_dir.c_str());
  // Figures only some models and data have.
  const std::pair<const char*, double> extras[] = {
      {"test_rmse", summary.test_rmse()},
      {"test_auc", summary.test_auc()},
      {"planted_test_rmse", summary.planted_test_rmse()},
      {"planted_test_auc", summary.planted_test_auc()},
      {"planted_relative_error", summary.planted_relative_error()}};
  for (const auto& [name, value] : extras) {
    if (value != 0) std::printf("%s: %.6f\n", name, value);
  }
  // Early stopping: the figures above are the best evaluation's.
  if (EarlyStoppingOn(summary.config().train())) {
    std::printf("best_step: %d\nstopped_early: %s\n", summary.best_step(),
                summary.stopped_early() ? "true" : "false");
  }
  return summary.state() == "SUCCEEDED" ? kExitOk : kExitJobFailed;
}

}  // namespace descent
