// Coordinator's read side: progress figures, status and summary.
#include <algorithm>
#include <cstdint>

#include "absl/time/clock.h"
#include "common/federated/client_privacy.h"
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
  // A resumed job's training time includes the time before its checkpoint.
  const double before =
      options_.resume.has_value() ? options_.resume->wall_seconds() : 0;
  if (state_ == v1::REGISTERING || started_ == absl::Time()) return before;
  const absl::Time end =
      finished_ != absl::Time() ? finished_ : options_.clock();
  return before + absl::ToDoubleSeconds(end - started_);
}

std::vector<int64_t> Coordinator::ShardVersions() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> versions;
  for (const MemberState& server : servers_) versions.push_back(server.version);
  return versions;
}

void Coordinator::FillCheckpoint(const std::vector<int64_t>& steps_per_epoch,
                                 v1::CheckpointManifest* manifest) const {
  absl::MutexLock lock(&mu_);
  manifest->set_global_step(GlobalStepLocked());
  for (size_t w = 0; w < workers_.size(); ++w) {
    if (!workers_[w].registered) continue;
    const v1::WorkerProgress& p = workers_[w].progress;
    v1::WorkerCheckpoint* saved = manifest->add_workers();
    saved->set_first_epoch(workers_[w].first_epoch);
    saved->set_clock_offset(workers_[w].clock_offset);
    saved->set_worker(static_cast<int32_t>(w));
    saved->set_step(p.steps());
    const int64_t per_epoch = w < steps_per_epoch.size()
                                  ? std::max<int64_t>(1, steps_per_epoch[w])
                                  : 1;
    saved->set_epoch(p.steps() / per_epoch);
    saved->set_position(p.steps() % per_epoch);
    saved->set_examples(p.examples());
    saved->set_done(p.done());
  }
  for (const v1::Evaluation& e : evaluations_.evaluations()) {
    *manifest->add_history() = e;
  }
  manifest->set_next_evaluation_step(evaluations_.next_step());
  manifest->set_wall_seconds(WallSecondsLocked());
  for (const v1::EpochPlan& plan : plans_.plans()) {
    *manifest->add_plans() = plan;
  }
  // The rounds the shards' copies hold, not the ones trained since.
  for (const v1::FederatedRound& round : rounds_) {
    if (round.round() >= manifest->version()) break;
    *manifest->add_rounds() = round;
  }
}

std::vector<int64_t> Coordinator::TotalSteps() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> totals;
  for (int32_t w = 0; w < options_.config.cluster().num_workers(); ++w) {
    totals.push_back(LimitsLocked(w).steps);
  }
  return totals;
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

int64_t Coordinator::progress_refused() const {
  absl::MutexLock lock(&mu_);
  return progress_refused_;
}

double Coordinator::learning_rate() const {
  absl::MutexLock lock(&mu_);
  int64_t updates = GlobalStepLocked();
  if (options_.config.train().consistency() == v1::BSP) {
    updates /= std::max(1, options_.config.cluster().num_workers());
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
    info->set_local_socket(servers_[s].member.local_socket());
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

namespace {

// Copies the metrics `from` holds (only those: the others do not apply).
void CopyTestFigures(const v1::Evaluation& from, v1::JobSummary* summary) {
  if (from.has_test_loss()) summary->set_test_loss(from.test_loss());
  if (from.has_test_accuracy()) {
    summary->set_test_accuracy(from.test_accuracy());
  }
  if (from.has_test_rmse()) summary->set_test_rmse(from.test_rmse());
  if (from.has_test_auc()) summary->set_test_auc(from.test_auc());
}

void CopyValidationFigures(const v1::Evaluation& from,
                           v1::JobSummary* summary) {
  if (from.has_validation_loss()) {
    summary->set_validation_loss(from.validation_loss());
  }
  if (from.has_validation_accuracy()) {
    summary->set_validation_accuracy(from.validation_accuracy());
  }
  if (from.has_validation_rmse()) {
    summary->set_validation_rmse(from.validation_rmse());
  }
  if (from.has_validation_auc()) {
    summary->set_validation_auc(from.validation_auc());
  }
}

}  // namespace

v1::JobSummary Coordinator::Summary() const {
  const v1::JobStatus status = Status();
  absl::MutexLock lock(&mu_);
  v1::JobSummary summary;
  summary.set_job_id(options_.config.job_id());
  *summary.mutable_config() = options_.config;
  summary.set_state(v1::JobState_Name(state_));
  if (!error_.empty()) summary.set_error(error_);
  if (const v1::Evaluation* result = evaluations_.result()) {
    const bool validated = result->has_validation_loss();
    summary.set_selected_on(validated ? "validation" : "test");
    summary.set_selected_step(result->step());
    summary.set_selected_parameter_version(result->parameter_version());
    CopyValidationFigures(*result, &summary);
    if (!validated) {
      CopyTestFigures(*result, &summary);
    } else if (final_test_.has_value()) {
      CopyTestFigures(*final_test_, &summary);
    }
    summary.set_train_loss(result->train_loss());
    if (evaluations_.early_stopping()) {
      summary.set_best_step(static_cast<int32_t>(result->step()));
    }
  }
  if (evaluations_.early_stopping()) summary.set_stopped_early(stopped_early_);
  // The last evaluation may have seen a later step than the heartbeats.
  const v1::Evaluation* last = evaluations_.last();
  summary.set_steps(static_cast<int32_t>(std::max(
      status.global_step(), last != nullptr ? last->step() : int64_t{0})));
  summary.set_epochs(status.epoch());
  summary.set_wall_seconds(status.wall_seconds());
  summary.set_samples_per_second(status.samples_per_second());
  for (const MemberState& w : workers_) {
    summary.set_bytes_pushed(summary.bytes_pushed() +
                             w.progress.bytes_pushed());
    summary.set_bytes_pulled(summary.bytes_pulled() +
                             w.progress.bytes_pulled());
  }
  summary.set_evaluations(evaluations_.count());
  summary.set_eval_every_steps(evaluations_.eval_every_steps());
  int32_t lost = 0;  // lost_workers_ also lists drained ones
  for (int32_t id : lost_workers_) lost += workers_[id].drained ? 0 : 1;
  if (lost > 0) summary.set_workers_lost(lost);
  if (!lost_workers_.empty()) {
    summary.set_examples_skipped(ExamplesSkippedLocked());
  }
  if (!joined_workers_.empty()) {
    summary.set_workers_joined(static_cast<int32_t>(joined_workers_.size()));
  }
  if (workers_drained_ > 0) summary.set_workers_drained(workers_drained_);
  if (worker_restarts_ > 0) summary.set_worker_restarts(worker_restarts_);
  if (options_.server_restarts > 0) {
    summary.set_server_restarts(options_.server_restarts);
    summary.set_steps_lost(options_.steps_lost);
  }
  for (const v1::Evaluation& evaluation : evaluations_.evaluations()) {
    v1::Evaluation* row = summary.add_history();
    *row = evaluation;
    row->clear_gradient_norms();
  }
  if (options_.config.has_privacy()) FillPrivacySummaryLocked(&summary);
  return summary;
}

void Coordinator::FillPrivacySummaryLocked(v1::JobSummary* summary) const {
  PrivacyOptions privacy = PrivacyOptionsOf(options_.config);
  v1::PrivacySummary* p = summary->mutable_privacy();
  if (!options_.config.has_federated()) {
    // DP-SGD: each BSP step a Poisson-subsampled Gaussian of rate W B / N.
    privacy.sampling_rate =
        DpSgdSamplingRate(options_.config, options_.train_examples);
    int64_t steps = 0;
    for (const MemberState& w : workers_) {
      steps = std::max(steps, w.progress.steps());
    }
    const Epsilon spent = SpentAfter(privacy, steps);
    p->set_delta(privacy.delta);
    p->set_noise_multiplier(privacy.noise_multiplier);
    p->set_sampling_rate(privacy.sampling_rate);
    p->set_rounds(steps);
    p->set_epsilon(spent.classic);
    p->set_epsilon_tight(spent.tight);
    if (privacy.target_epsilon > 0) {
      p->set_target_epsilon(privacy.target_epsilon);
      if (const std::optional<int64_t> budget = BudgetSteps(privacy)) {
        p->set_budget_rounds(*budget);
      }
    }
    return;
  }
  p->set_delta(privacy.delta);
  p->set_noise_multiplier(privacy.noise_multiplier);
  p->set_sampling_rate(privacy.local ? 1.0 : privacy.sampling_rate);
  if (privacy.target_epsilon > 0) p->set_target_epsilon(privacy.target_epsilon);
  if (const std::optional<int64_t> budget = BudgetRounds(options_.config)) {
    p->set_budget_rounds(*budget);
  }
  // The last recorded round's (rounds_ holds the recorder's, in order).
  for (auto it = rounds_.rbegin(); it != rounds_.rend(); ++it) {
    if (!it->has_epsilon()) continue;
    p->set_epsilon(it->epsilon());
    p->set_epsilon_tight(it->epsilon_tight());
    p->set_rounds(it->round() + 1);
    break;
  }
}

}  // namespace descent
