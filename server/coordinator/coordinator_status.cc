// Coordinator's read side: progress figures, status and summary.
#include "absl/time/clock.h"
#include "server/coordinator/coordinator.h"

namespace descent {

int64_t Coordinator::GlobalStepLocked() const {
  int64_t steps = 0;
  for (const MemberState& w : workers_) steps += w.progress.steps();
  return steps;
}

int64_t Coordinator::ExamplesLocked() const {
  int64_t examples = 0;
  for (const MemberState& w : workers_) examples += w.progress.examples();
  return examples;
}

double Coordinator::EpochLocked() const {
  if (options_.train_examples <= 0) return 0;
  return static_cast<double>(ExamplesLocked()) / options_.train_examples;
}

double Coordinator::WallSecondsLocked() const {
  if (state_ == v1::REGISTERING || started_ == absl::Time()) return 0;
  const absl::Time end =
      finished_ != absl::Time() ? finished_ : options_.clock();
  return absl::ToDoubleSeconds(end - started_);
}

double Coordinator::TrainLossLocked() const {
  double sum = 0;
  int reporting = 0;
  for (const MemberState& w : workers_) {
    if (w.progress.loss_count() == 0) continue;
    sum += w.recent_loss;
    ++reporting;
  }
  return reporting > 0 ? sum / reporting : 0;
}

int64_t Coordinator::heartbeats_missed() const {
  absl::MutexLock lock(&mu_);
  return heartbeats_missed_;
}

double Coordinator::learning_rate() const {
  absl::MutexLock lock(&mu_);
  int64_t updates = GlobalStepLocked();
  if (options_.config.train().consistency() == v1::BSP && !workers_.empty()) {
    updates /= static_cast<int64_t>(workers_.size());
  }
  return schedule_.At(updates);
}

v1::JobStatus Coordinator::Status() const {
  absl::MutexLock lock(&mu_);
  v1::JobStatus status;
  status.set_job_id(options_.config.job_id());
  status.set_state(state_);
  status.set_error(error_);
  *status.add_members() = options_.self;
  for (size_t s = 0; s < servers_.size(); ++s) {
    v1::ShardInfo* info = status.add_shards();
    *info = shard_ranges_[s];
    info->set_address(servers_[s].member.address());
    if (servers_[s].registered) *status.add_members() = servers_[s].member;
  }
  for (const MemberState& w : workers_) {
    if (w.registered) *status.add_members() = w.member;
  }
  status.set_global_step(GlobalStepLocked());
  status.set_examples(ExamplesLocked());
  status.set_epoch(EpochLocked());
  status.set_total_examples(options_.train_examples *
                            options_.config.train().epochs());
  status.set_train_loss(TrainLossLocked());
  if (const v1::Evaluation* last = evaluations_.last()) {
    *status.mutable_last_evaluation() = *last;
  }
  const double wall = WallSecondsLocked();
  status.set_wall_seconds(wall);
  status.set_samples_per_second(wall > 0 ? status.examples() / wall : 0);
  return status;
}

v1::JobSummary Coordinator::Summary() const {
  const v1::JobStatus status = Status();
  absl::MutexLock lock(&mu_);
  v1::JobSummary summary;
  summary.set_job_id(options_.config.job_id());
  *summary.mutable_config() = options_.config;
  summary.set_state(v1::JobState_Name(state_));
  summary.set_error(error_);
  if (const v1::Evaluation* result = evaluations_.result()) {
    summary.set_test_accuracy(result->test_accuracy());
    summary.set_test_loss(result->test_loss());
    summary.set_train_loss(result->train_loss());
    summary.set_test_rmse(result->test_rmse());
    summary.set_test_auc(result->test_auc());
    if (evaluations_.early_stopping()) {
      summary.set_best_step(static_cast<int32_t>(result->step()));
    }
  }
  summary.set_stopped_early(stopped_early_);
  summary.set_steps(static_cast<int32_t>(status.global_step()));
  summary.set_epochs(status.epoch());
  summary.set_wall_seconds(status.wall_seconds());
  summary.set_samples_per_second(status.samples_per_second());
  summary.set_evaluations(evaluations_.count());
  return summary;
}

}  // namespace descent
