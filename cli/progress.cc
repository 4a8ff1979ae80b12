#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/config/job_options.h"
#include "common/exit_codes.h"
#include "google/protobuf/util/json_util.h"

namespace descent {

ProgressDisplay::ProgressDisplay(const v1::JobConfig& config)
    : epochs_(config.train().epochs()),
      rounds_(config.has_federated() ? config.federated().rounds() : 0),
      workers_(std::max(1, config.cluster().num_workers())),
      members_(config.cluster().num_servers() + config.cluster().num_workers()),
      terminal_(::isatty(STDERR_FILENO) == 1) {}

std::string ProgressDisplay::Format(const v1::JobStatus& status) const {
  if (status.state() == v1::REGISTERING) {
    // The coordinator lists itself among the members.
    return absl::StrFormat("registering: %d of %d servers and workers",
                           status.members_size() - 1, members_);
  }
  // A federated round is a step of every worker.
  const int64_t round = status.global_step() / workers_;
  std::string line =
      rounds_ > 0
          ? absl::StrFormat("round %d/%d", round, rounds_)
          : absl::StrFormat("step %d | epoch %.2f/%d", status.global_step(),
                            status.epoch(), epochs_);
  if (status.global_step() > 0) {
    absl::StrAppendFormat(&line, " | loss %.4f", status.train_loss());
  }
  if (status.has_last_evaluation()) {
    const v1::Evaluation& e = status.last_evaluation();
    if (e.has_validation_loss()) {
      if (e.has_validation_rmse()) {
        absl::StrAppendFormat(&line, " | val rmse %.4f", e.validation_rmse());
      }
      if (e.has_validation_accuracy()) {
        absl::StrAppendFormat(&line, " | val acc %.4f",
                              e.validation_accuracy());
      }
      if (e.has_validation_auc()) {
        absl::StrAppendFormat(&line, " | val auc %.4f", e.validation_auc());
      }
    }
    if (e.has_test_rmse()) {
      absl::StrAppendFormat(&line, " | test rmse %.4f", e.test_rmse());
    }
    if (e.has_test_accuracy()) {
      absl::StrAppendFormat(&line, " | test acc %.4f", e.test_accuracy());
    }
    if (e.has_test_auc()) {
      absl::StrAppendFormat(&line, " | test auc %.4f", e.test_auc());
    }
  }
  absl::StrAppendFormat(&line, " | %.0f samples/s",
                        status.samples_per_second());
  const int64_t left = status.total_examples() - status.examples();
  if (rounds_ > 0) {
    if (round > 0 && round < rounds_) {
      absl::StrAppendFormat(&line, " | ETA %.0fs",
                            status.wall_seconds() / round * (rounds_ - round));
    }
  } else if (status.samples_per_second() > 0 && left > 0) {
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

std::string FormatResult(const v1::JobSummary& summary,
                         const std::string& output_dir) {
  std::string text = absl::StrFormat("state: %s\n", summary.state());
  if (summary.has_test_accuracy()) {
    absl::StrAppendFormat(&text, "test_accuracy: %.4f\n",
                          summary.test_accuracy());
  }
  if (summary.has_test_loss()) {
    absl::StrAppendFormat(&text, "test_loss: %.4f\n", summary.test_loss());
  }
  absl::StrAppendFormat(
      &text,
      "steps: %d\nepochs: %.2f\nwall_seconds: %.2f\nsamples_per_second: "
      "%.0f\noutput: %s\n",
      summary.steps(), summary.epochs(), summary.wall_seconds(),
      summary.samples_per_second(), output_dir);
  // Figures only some models and data have: printed when the summary has
  // them.
  const std::tuple<const char*, bool, double> extras[] = {
      {"test_rmse", summary.has_test_rmse(), summary.test_rmse()},
      {"test_auc", summary.has_test_auc(), summary.test_auc()},
      {"validation_loss", summary.has_validation_loss(),
       summary.validation_loss()},
      {"validation_accuracy", summary.has_validation_accuracy(),
       summary.validation_accuracy()},
      {"validation_rmse", summary.has_validation_rmse(),
       summary.validation_rmse()},
      {"validation_auc", summary.has_validation_auc(),
       summary.validation_auc()},
      {"planted_test_rmse", summary.has_planted_test_rmse(),
       summary.planted_test_rmse()},
      {"planted_test_auc", summary.has_planted_test_auc(),
       summary.planted_test_auc()},
      {"planted_relative_error", summary.has_planted_relative_error(),
       summary.planted_relative_error()}};
  for (const auto& [name, has, value] : extras) {
    if (has) absl::StrAppendFormat(&text, "%s: %.6f\n", name, value);
  }
  if (!summary.selected_on().empty()) {
    absl::StrAppendFormat(&text, "selected_on: %s\n", summary.selected_on());
  }
  // Early stopping: the figures above are the best evaluation's.
  if (summary.has_best_step()) {
    absl::StrAppendFormat(&text, "best_step: %d\n", summary.best_step());
  }
  if (summary.has_stopped_early()) {
    absl::StrAppendFormat(&text, "stopped_early: %s\n",
                          summary.stopped_early() ? "true" : "false");
  }
  return text;
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
  std::fputs(FormatResult(summary, output_dir).c_str(), stdout);
  return summary.state() == "SUCCEEDED" ? kExitOk : kExitJobFailed;
}

}  // namespace descent
