#include "server/coordinator/coordinator.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/optim/optimizer.h"
#include "common/partition.h"

namespace descent {
namespace {

std::vector<v1::ShardInfo> ShardRanges(int64_t num_parameters, int shards) {
  std::vector<v1::ShardInfo> infos;
  for (const IndexRange& r : SplitEvenly(num_parameters, shards)) {
    v1::ShardInfo& info = infos.emplace_back();
    info.set_shard(static_cast<int32_t>(infos.size() - 1));
    info.set_begin(r.begin);
    info.set_end(r.end);
  }
  return infos;
}

const char* RoleName(v1::Role role) {
  return role == v1::SERVER   ? "server"
         : role == v1::WORKER ? "worker"
                              : "member";
}

bool Ended(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED;
}

LearningRateSchedule ScheduleOrZero(const v1::OptimizerConfig& config) {
  absl::StatusOr<LearningRateSchedule> schedule =
      LearningRateScheduleOf(config);
  return schedule.ok() ? *schedule : LearningRateSchedule::Constant(0);
}

}  // namespace

Coordinator::Coordinator(CoordinatorOptions options)
    : options_(std::move(options)),
      shard_ranges_(ShardRanges(options_.num_parameters,
                                options_.config.cluster().num_servers())),
      created_(options_.clock()),
      schedule_(ScheduleOrZero(options_.config.optimizer())),
      servers_(options_.config.cluster().num_servers()),
      workers_(options_.config.cluster().num_workers()),
      test_loss_guard_(options_.config.train().max_loss_factor(), 1) {}

absl::StatusOr<v1::RegisterServerResponse> Coordinator::RegisterServer(
    const v1::RegisterServerRequest& request) {
  const int32_t shard = request.shard();
  absl::MutexLock lock(&mu_);
  if (shard < 0 || shard >= static_cast<int32_t>(servers_.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard ", shard, " does not exist: the job has shards 0..",
                     servers_.size() - 1));
  }
  MemberState& slot = servers_[shard];
  if (slot.registered && slot.member.address() != request.address()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard ", shard, " is already served at ", slot.member.address()));
  }
  if (!slot.registered && state_ != v1::REGISTERING) {
    return absl::FailedPreconditionError("the job is no longer registering");
  }
  const absl::Time now = options_.clock();
  slot.registered = true;
  slot.last_seen = now;
  slot.member.set_role(v1::SERVER);
  slot.member.set_id(shard);
  slot.member.set_pid(request.pid());
  slot.member.set_address(request.address());
  slot.member.set_metrics_address(request.metrics_address());
  StartIfCompleteLocked(now);

  v1::RegisterServerResponse response;
  *response.mutable_config() = options_.config;
  response.set_begin(shard_ranges_[shard].begin());
  response.set_end(shard_ranges_[shard].end());
  response.set_num_features(options_.num_features);
  response.set_num_classes(options_.num_classes);
  return response;
}

absl::StatusOr<v1::RegisterWorkerResponse> Coordinator::RegisterWorker(
    const v1::RegisterWorkerRequest& request) {
  absl::MutexLock lock(&mu_);
  auto same = std::find_if(workers_.begin(), workers_.end(), [&](auto& w) {
    return w.registered && w.instance_id == request.instance_id();
  });
  auto free = std::find_if(workers_.begin(), workers_.end(),
                           [](auto& w) { return !w.registered; });
  if (same == workers_.end() && free == workers_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the job already has its ", workers_.size(), " workers"));
  }
  if (same == workers_.end() && state_ != v1::REGISTERING) {
    return absl::FailedPreconditionError("the job is no longer registering");
  }
  MemberState& slot = same != workers_.end() ? *same : *free;
  const int32_t id = static_cast<int32_t>(&slot - workers_.data());
  const absl::Time now = options_.clock();
  slot.registered = true;
  slot.instance_id = request.instance_id();
  slot.last_seen = now;
  slot.member.set_role(v1::WORKER);
  slot.member.set_id(id);
  slot.member.set_pid(request.pid());
  slot.member.set_metrics_address(request.metrics_address());
  StartIfCompleteLocked(now);

  v1::RegisterWorkerResponse response;
  *response.mutable_config() = options_.config;
  response.set_worker_id(id);
  response.set_data_shard(id);
  response.set_num_data_shards(static_cast<int32_t>(workers_.size()));
  response.set_num_features(options_.num_features);
  response.set_num_classes(options_.num_classes);
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(
    const v1::HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  if (request.job_id() != options_.config.job_id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job id \"", request.job_id(), "\" is not this job \"",
                     options_.config.job_id(), "\""));
  }
  MemberState* member = FindLocked(request.role(), request.id());
  if (member == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("unknown ", RoleName(request.role()), " ", request.id(),
                     ": register first"));
  }
  member->last_seen = options_.clock();
  member->overdue = false;
  if (request.role() == v1::WORKER && request.has_progress()) {
    UpdateProgressLocked(member, request.progress());
  }
  if (Ended(state_)) member->notified = true;
  v1::HeartbeatResponse response;
  response.set_state(state_);
  if (state_ == v1::FAILED) {
    response.set_exit_code(exit_code_);
    response.set_error(error_);
  }
  return response;
}

void Coordinator::UpdateProgressLocked(MemberState* worker,
                                       const v1::WorkerProgress& p) {
  if (!p.divergence().empty() && state_ == v1::RUNNING) {
    EndLocked(v1::FAILED, p.divergence(), kExitDiverged);
  }
  const v1::WorkerProgress& old = worker->progress;
  // Progress is cumulative; a stale or retried heartbeat must not go back.
  if (p.steps() < old.steps() || p.loss_count() < old.loss_count() ||
      p.gradient_norm_count() < old.gradient_norm_count()) {
    return;
  }
  const int64_t new_count = p.loss_count() - old.loss_count();
  const double new_sum = p.loss_sum() - old.loss_sum();
  if (new_count > 0) {
    worker->recent_loss = new_sum / new_count;
    window_loss_sum_ += new_sum;
    window_loss_count_ += new_count;
  }
  AddGradientNormsLocked(old, p);
  worker->progress = p;
}

void Coordinator::AddGradientNormsLocked(const v1::WorkerProgress& old,
                                         const v1::WorkerProgress& p) {
  const int64_t new_count = p.gradient_norm_count() - old.gradient_norm_count();
  const int layers = p.gradient_norm_layers_size();
  if (new_count <= 0 || p.gradient_norm_sums_size() != layers) return;
  if (window_norm_layers_.empty()) {
    window_norm_layers_.assign(p.gradient_norm_layers().begin(),
                               p.gradient_norm_layers().end());
    window_norm_sums_.assign(layers, 0);
  }
  // Every worker trains the same model; a report of other layers is ignored.
  if (!std::equal(window_norm_layers_.begin(), window_norm_layers_.end(),
                  p.gradient_norm_layers().begin(),
                  p.gradient_norm_layers().end())) {
    return;
  }
  const bool had_sums = old.gradient_norm_sums_size() == layers;
  for (int i = 0; i < layers; ++i) {
    window_norm_sums_[i] +=
        p.gradient_norm_sums(i) - (had_sums ? old.gradient_norm_sums(i) : 0);
  }
  window_norm_total_sum_ +=
      p.gradient_norm_total_sum() - old.gradient_norm_total_sum();
  window_norm_count_ += new_count;
}

Coordinator::MemberState* Coordinator::FindLocked(v1::Role role, int32_t id) {
  std::vector<MemberState>* members = role == v1::SERVER   ? &servers_
                                      : role == v1::WORKER ? &workers_
                                                           : nullptr;
  if (members == nullptr || id < 0 ||
      id >= static_cast<int32_t>(members->size()) ||
      !(*members)[id].registered) {
    return nullptr;
  }
  return &(*members)[id];
}

void Coordinator::StartIfCompleteLocked(absl::Time now) {
  auto registered = [](const MemberState& m) { return m.registered; };
  if (state_ == v1::REGISTERING &&
      std::all_of(servers_.begin(), servers_.end(), registered) &&
      std::all_of(workers_.begin(), workers_.end(), registered)) {
    state_ = v1::RUNNING;
    started_ = now;
    next_evaluation_step_ = options_.config.train().eval_every_steps();
  }
}

void Coordinator::Tick() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock();
  const v1::ClusterConfig& cluster = options_.config.cluster();
  if (state_ == v1::REGISTERING &&
      now - created_ > absl::Seconds(cluster.registration_timeout_seconds())) {
    auto count = [](const std::vector<MemberState>& members) {
      return std::count_if(members.begin(), members.end(),
                           [](const MemberState& m) { return m.registered; });
    };
    EndLocked(v1::FAILED,
              absl::StrCat("registration timed out after ",
                           cluster.registration_timeout_seconds(),
                           "s: ", count(servers_), " of ", servers_.size(),
                           " servers and ", count(workers_), " of ",
                           workers_.size(), " workers registered"),
              kExitPeerLost);
    return;
  }
  if (state_ != v1::RUNNING) return;
  const absl::Duration timeout =
      absl::Seconds(cluster.heartbeat_timeout_seconds());
  for (std::vector<MemberState>* members : {&servers_, &workers_}) {
    for (MemberState& m : *members) {
      if (now - m.last_seen > timeout / 2 && !m.overdue) {
        m.overdue = true;
        ++heartbeats_missed_;
      }
      if (now - m.last_seen <= timeout) continue;
      EndLocked(
          v1::FAILED,
          absl::StrCat(RoleName(m.member.role()), " ", m.member.id(), " (pid ",
                       m.member.pid(), ") sent no heartbeat for ",
                       absl::FormatDuration(now - m.last_seen)),
          kExitPeerLost);
      return;
    }
  }
}

bool Coordinator::EvaluationDue() const {
  absl::MutexLock lock(&mu_);
  return state_ == v1::RUNNING && next_evaluation_step_ > 0 &&
         GlobalStepLocked() >= next_evaluation_step_;
}

bool Coordinator::AllWorkersDone() const {
  absl::MutexLock lock(&mu_);
  return state_ == v1::RUNNING && AllWorkersDoneLocked();
}

bool Coordinator::AllWorkersDoneLocked() const {
  return std::all_of(workers_.begin(), workers_.end(),
                     [](const MemberState& w) { return w.progress.done(); });
}

v1::Evaluation Coordinator::BeginEvaluation() {
  absl::MutexLock lock(&mu_);
  v1::Evaluation evaluation;
  evaluation.set_step(GlobalStepLocked());
  evaluation.set_epoch(EpochLocked());
  evaluation.set_wall_seconds(WallSecondsLocked());
  evaluation.set_train_loss(
      window_loss_count_ > 0 ? window_loss_sum_ / window_loss_count_ : 0);
  window_loss_sum_ = 0;
  window_loss_count_ = 0;
  TakeGradientNormsLocked(&evaluation);
  const int64_t every = options_.config.train().eval_every_steps();
  if (every > 0) {
    while (next_evaluation_step_ <= evaluation.step())
      next_evaluation_step_ += every;
  }
  return evaluation;
}

void Coordinator::TakeGradientNormsLocked(v1::Evaluation* evaluation) {
  if (window_norm_count_ > 0) {
    for (size_t i = 0; i < window_norm_layers_.size(); ++i) {
      v1::GradientNorm* norm = evaluation->add_gradient_norms();
      norm->set_layer(window_norm_layers_[i]);
      norm->set_norm(window_norm_sums_[i] / window_norm_count_);
    }
    evaluation->set_gradient_norm(window_norm_total_sum_ / window_norm_count_);
  }
  std::fill(window_norm_sums_.begin(), window_norm_sums_.end(), 0);
  window_norm_total_sum_ = 0;
  window_norm_count_ = 0;
}

bool Coordinator::RecordEvaluation(const v1::Evaluation& evaluation) {
  absl::MutexLock lock(&mu_);
  evaluations_.push_back(evaluation);
  if (CheckDivergenceLocked(evaluation)) return false;
  const v1::EarlyStoppingConfig& stop =
      options_.config.train().early_stopping();
  if (best_ < 0 || evaluation.test_loss() <
                       evaluations_[best_].test_loss() - stop.min_delta()) {
    best_ = static_cast<int>(evaluations_.size()) - 1;
    evaluations_since_best_ = 0;
    return true;
  }
  ++evaluations_since_best_;
  if (stop.patience() > 0 && evaluations_since_best_ >= stop.patience() &&
      state_ == v1::RUNNING && !AllWorkersDoneLocked()) {
    stopped_early_ = true;
    EndLocked(v1::SUCCEEDED, "", kExitOk);
  }
  return false;
}

bool Coordinator::CheckDivergenceLocked(const v1::Evaluation& evaluation) {
  const double loss = evaluation.test_loss();
  if (!test_loss_guard_.Diverges(loss)) return false;
  std::string error = absl::StrCat("training diverged: the test loss at step ",
                                   evaluation.step(), " is ", loss);
  if (std::isfinite(loss)) {
    absl::StrAppend(&error, ", more than ", test_loss_guard_.max_factor(),
                    " times the first evaluation's (",
                    test_loss_guard_.reference(), ")");
  }
  EndLocked(v1::FAILED, error + "; lower the learning rate", kExitDiverged);
  return true;
}

void Coordinator::Succeed() {
  absl::MutexLock lock(&mu_);
  EndLocked(v1::SUCCEEDED, "", kExitOk);
}

void Coordinator::Fail(const std::string& error, int exit_code) {
  absl::MutexLock lock(&mu_);
  EndLocked(v1::FAILED, error, exit_code);
}

void Coordinator::EndLocked(v1::JobState state, const std::string& error,
                            int exit_code) {
  if (Ended(state_)) return;
  if (state_ == v1::RUNNING) finished_ = options_.clock();
  state_ = state;
  error_ = error;
  exit_code_ =
      state == v1::FAILED && exit_code == kExitOk ? kExitJobFailed : exit_code;
}

int Coordinator::exit_code() const {
  absl::MutexLock lock(&mu_);
  return exit_code_;
}

bool Coordinator::AllNotified() const {
  absl::MutexLock lock(&mu_);
  for (const std::vector<MemberState>* members : {&servers_, &workers_}) {
    for (const MemberState& m : *members) {
      if (m.registered && !m.notified) return false;
    }
  }
  return true;
}

v1::JobState Coordinator::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}
}  // namespace descent
