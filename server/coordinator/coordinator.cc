#include "server/coordinator/coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/optim/optimizer.h"
#include "common/partition.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "server/coordinator/progress_bounds.h"

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
  return state == v1::SUCCEEDED || state == v1::FAILED ||
         state == v1::INTERRUPTED;
}

LearningRateSchedule ScheduleOrZero(const v1::OptimizerConfig& config) {
  absl::StatusOr<LearningRateSchedule> schedule =
      LearningRateScheduleOf(config);
  return schedule.ok() ? *schedule : LearningRateSchedule::Constant(0);
}

// The job's global steps when every worker finishes its epochs: worker k
// trains on share k of SplitEvenly and takes ceil(share / batch) steps an
// epoch (one with batch_size 0, the whole share).
std::vector<int64_t> WorkerTotalSteps(const CoordinatorOptions& options) {
  std::vector<int64_t> steps;
  for (const WorkerLimits& w :
       WorkerLimitsOf(options.config, options.train_examples)) {
    steps.push_back(w.steps);
  }
  return steps;
}

int64_t TotalSteps(const CoordinatorOptions& options) {
  int64_t steps = 0;
  for (int64_t s : WorkerTotalSteps(options)) steps += s;
  return steps;
}

// `options` with train.eval_every_steps resolved: if unset,
// DefaultEvalEverySteps of the job's total steps. The config goes to every
// server and worker at registration, so they all use this one interval.
// Also resolves cluster.on_worker_failure: a coordinator whose launcher set
// none has nobody to restart workers, so CONTINUE.
CoordinatorOptions WithEvalInterval(CoordinatorOptions options) {
  v1::TrainConfig& train = *options.config.mutable_train();
  if (!train.has_eval_every_steps()) {
    train.set_eval_every_steps(DefaultEvalEverySteps(TotalSteps(options)));
  }
  v1::ClusterConfig& cluster = *options.config.mutable_cluster();
  if (cluster.on_worker_failure() == v1::WORKER_FAILURE_POLICY_UNSPECIFIED) {
    cluster.set_on_worker_failure(v1::CONTINUE);
  }
  return options;
}

// The examples worker `id` trains on over the job: its share, every epoch.
int64_t WorkerExamples(const CoordinatorOptions& options, int32_t id) {
  const int workers = std::max(1, options.config.cluster().num_workers());
  const std::vector<IndexRange> shares =
      SplitEvenly(options.train_examples, workers);
  if (id < 0 || id >= static_cast<int32_t>(shares.size())) return 0;
  return shares[id].size() * std::max(1, options.config.train().epochs());
}

EvaluationTrackerOptions TrackerOptions(const CoordinatorOptions& options) {
  const v1::TrainConfig& train = options.config.train();
  EvaluationTrackerOptions tracker;
  tracker.eval_every_steps = train.eval_every_steps();
  tracker.patience = train.early_stopping().patience();
  tracker.min_delta = train.early_stopping().min_delta();
  tracker.max_loss_factor = train.max_loss_factor();
  return tracker;
}

}  // namespace

Coordinator::Coordinator(CoordinatorOptions options)
    : options_(WithEvalInterval(std::move(options))),
      shard_ranges_(ShardRanges(options_.num_parameters,
                                options_.config.cluster().num_servers())),
      created_(options_.clock()),
      schedule_(ScheduleOrZero(options_.config.optimizer())),
      limits_(WorkerLimitsOf(options_.config, options_.train_examples)),
      servers_(options_.config.cluster().num_servers()),
      workers_(options_.config.cluster().num_workers()),
      evaluations_(TrackerOptions(options_)) {
  if (options_.resume.has_value()) {
    evaluations_.Restore(
        {options_.resume->history().begin(), options_.resume->history().end()},
        options_.resume->next_evaluation_step());
  }
}

absl::StatusOr<v1::RegisterServerResponse> Coordinator::RegisterServer(
    const v1::RegisterServerRequest& request) {
  const int32_t shard = request.shard();
  absl::MutexLock lock(&mu_);
  if (shard < 0 || shard >= static_cast<int32_t>(servers_.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard ", shard, " does not exist: the job has shards 0..",
                     servers_.size() - 1));
  }
  RETURN_IF_ERROR(CheckMemberFields(absl::StrCat("server ", shard),
                                    &request.address(),
                                    request.metrics_address(), request.pid()));
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
  response.set_checkpoint_root(options_.checkpoint_root);
  if (options_.resume.has_value()) {
    const std::vector<int64_t> totals = WorkerTotalSteps(options_);
    for (const v1::WorkerCheckpoint& saved : options_.resume->workers()) {
      if (saved.worker() < static_cast<int32_t>(totals.size()) &&
          saved.step() >= totals[saved.worker()]) {
        response.add_done_workers(saved.worker());
      }
    }
    for (const v1::ShardCheckpoint& saved : options_.resume->shards()) {
      if (saved.shard() != shard) continue;
      response.set_restore_path(
          absl::StrCat(options_.resume_dir, "/", saved.file().name()));
      response.set_restore_bytes(saved.file().bytes());
      response.set_restore_crc32(saved.file().crc32());
    }
  }
  return response;
}

absl::StatusOr<v1::RegisterWorkerResponse> Coordinator::RegisterWorker(
    const v1::RegisterWorkerRequest& request) {
  RETURN_IF_ERROR(CheckMemberFields("a worker", nullptr,
                                    request.metrics_address(), request.pid()));
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock();
  auto same = std::find_if(workers_.begin(), workers_.end(), [&](auto& w) {
    return w.registered && w.instance_id == request.instance_id();
  });
  auto free = std::find_if(workers_.begin(), workers_.end(),
                           [](auto& w) { return !w.registered; });
  if (free == workers_.end()) {
    free = std::find_if(workers_.begin(), workers_.end(),
                        [&](auto& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                          return ReplaceableLocked(w, now);
                        });
  }
  if (request.has_requested_id() && same == workers_.end()) {
    const int32_t wanted = request.requested_id();
    if (wanted < 0 || wanted >= static_cast<int32_t>(workers_.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker id ", wanted, " is out of range: the job has ",
          workers_.size(), " workers, ids 0..", workers_.size() - 1));
    }
    const MemberState& holder = workers_[wanted];
    if (holder.drained) {
      return absl::FailedPreconditionError(absl::StrCat(
          "worker id ", wanted, " was drained; the job goes on without it"));
    }
    if (holder.lost && policy() == v1::CONTINUE) {
      return absl::FailedPreconditionError(
          absl::StrCat("worker id ", wanted,
                       " was declared lost; the job goes on without it"));
    }
    if (holder.registered && !ReplaceableLocked(holder, now)) {
      const std::string held = absl::StrCat(
          "worker id ", wanted, " is held by another process (pid ",
          holder.member.pid(), ", heard from ",
          absl::FormatDuration(
              absl::Trunc(now - holder.last_seen, absl::Milliseconds(100))),
          " ago)");
      if (policy() == v1::RESTART && !Ended(state_)) {
        return absl::UnavailableError(absl::StrCat(
            held,
            "; a new process takes it once that one has been silent "
            "for ",
            absl::FormatDuration(kReplaceAfter)));
      }
      return absl::AlreadyExistsError(held);
    }
    free = workers_.begin() + wanted;
  }
  if (same == workers_.end() && free == workers_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the job already has its ", workers_.size(), " workers"));
  }
  if (same == workers_.end() && !free->registered &&
      state_ != v1::REGISTERING) {
    return absl::FailedPreconditionError("the job is no longer registering");
  }
  MemberState& slot = same != workers_.end() ? *same : *free;
  const int32_t id = static_cast<int32_t>(&slot - workers_.data());
  const bool replacing = same == workers_.end() && slot.registered;
  if (replacing) ReplaceLocked(&slot);
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
  response.set_incarnation(slot.incarnation);
  if (slot.incarnation > 0) {
    response.set_start_step(slot.progress.steps());
  } else if (options_.resume.has_value()) {
    for (const v1::WorkerCheckpoint& saved : options_.resume->workers()) {
      if (saved.worker() == id) response.set_start_step(saved.step());
    }
  }
  return response;
}

bool Coordinator::ReplaceableLocked(const MemberState& worker,
                                    absl::Time now) const {
  // A worker that had finished may be replaced too: the new process starts
  // at its total steps and only waits for the job's end.
  return policy() == v1::RESTART && worker.registered && !worker.drained &&
         (state_ == v1::REGISTERING || state_ == v1::RUNNING) &&
         (worker.lost || now - worker.last_seen >= kReplaceAfter);
}

void Coordinator::ReplaceLocked(MemberState* worker) {
  ++worker->incarnation;
  ++worker_restarts_;
  worker->lost = false;
  worker->overdue = false;
  worker->notified = false;
  // The new process reports from the dead one's steps and examples on;
  // its sums and counts start from zero.
  v1::WorkerProgress& p = worker->progress;
  p.set_loss_sum(0);
  p.set_loss_count(0);
  p.set_gradient_norm_total_sum(0);
  p.set_gradient_norm_count(0);
  for (int i = 0; i < p.gradient_norm_sums_size(); ++i) {
    p.set_gradient_norm_sums(i, 0);
  }
  ++changes_;
}

absl::StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(
    const v1::HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  if (request.job_id() != options_.config.job_id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job id \"", request.job_id(), "\" is not this coordinator's job"));
  }
  // A replaced or lost process is told so before its report is checked
  // (a new incarnation's counts start again from zero).
  MemberState* member = FindLocked(request.role(), request.id());
  if (member != nullptr && request.role() == v1::WORKER &&
      request.incarnation() != member->incarnation) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", request.id(), ": this process (incarnation ",
                     request.incarnation(), ") was replaced by incarnation ",
                     member->incarnation));
  }
  if (member != nullptr && request.role() == v1::WORKER && member->lost &&
      policy() == v1::CONTINUE) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", request.id(),
                     " was declared lost; the job goes on without it"));
  }
  if (absl::Status bounded = CheckHeartbeatLocked(request); !bounded.ok()) {
    ++progress_refused_;
    return bounded;
  }
  if (member == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("unknown ", RoleName(request.role()), " ", request.id(),
                     ": register first"));
  }
  member->last_seen = options_.clock();
  member->overdue = false;
  if (request.role() == v1::SERVER) member->version = request.version();
  if (request.role() == v1::WORKER && request.has_progress()) {
    UpdateProgressLocked(member, request.progress());
  }
  if (Ended(state_)) member->notified = true;
  member->lost = false;  // RESTART: a silent worker that came back
  if (request.role() == v1::WORKER && request.leaving() && !member->drained &&
      !Ended(state_)) {
    WorkerLeftLocked(member);
  }
  v1::HeartbeatResponse response;
  response.set_state(state_);
  if (request.role() == v1::SERVER) {
    for (int32_t lost : lost_workers_) response.add_lost_workers(lost);
  }
  if (state_ == v1::FAILED || state_ == v1::INTERRUPTED) {
    response.set_exit_code(exit_code_);
    response.set_error(error_);
  }
  return response;
}

absl::Status Coordinator::CheckHeartbeatLocked(
    const v1::HeartbeatRequest& request) const {
  if (request.role() != v1::SERVER && request.role() != v1::WORKER) {
    return absl::InvalidArgumentError(
        absl::StrCat("role ", v1::Role_Name(request.role()),
                     ": heartbeats come from servers and workers"));
  }
  const std::vector<MemberState>& members =
      request.role() == v1::SERVER ? servers_ : workers_;
  const int32_t id = request.id();
  if (id < 0 || id >= static_cast<int32_t>(members.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        RoleName(request.role()), " id ", id, " is out of range: the job has ",
        RoleName(request.role()), "s 0..", members.size() - 1));
  }
  if (request.role() == v1::SERVER) {
    const int64_t before = members[id].version;
    if (request.version() < 0 || request.version() < before) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server ", id, ": version ", request.version(),
          request.version() < 0
              ? " is negative"
              : absl::StrCat(" is below the ", before,
                             " it reported before (versions only grow)")));
    }
    return absl::OkStatus();
  }
  if (!request.has_progress()) return absl::OkStatus();
  return CheckProgress(id, limits_[id], members[id].progress,
                       request.progress());
}

void Coordinator::UpdateProgressLocked(MemberState* worker,
                                       const v1::WorkerProgress& p) {
  if (!p.divergence().empty() && state_ == v1::RUNNING) {
    EndLocked(v1::FAILED, p.divergence(), kExitDiverged);
  }
  // CheckHeartbeatLocked has seen that `p` follows the last report.
  const v1::WorkerProgress& old = worker->progress;
  const int64_t new_count = p.loss_count() - old.loss_count();
  if (new_count > 0) {
    worker->recent_loss = (p.loss_sum() - old.loss_sum()) / new_count;
  }
  evaluations_.AddProgress(old, p);
  worker->progress = p;
  ++changes_;
}

void Coordinator::AwaitChange(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto changed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return changes_ != changes_seen_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  changes_seen_ = changes_;
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
    evaluations_.StartSchedule();
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
      if (m.drained) continue;  // gone for good, by request
      if (now - m.last_seen > timeout / 2 && !m.overdue) {
        m.overdue = true;
        ++heartbeats_missed_;
      }
      if (now - m.last_seen <= timeout) continue;
      if (m.member.role() == v1::WORKER && policy() != v1::FAIL) {
        WorkerSilentLocked(&m, now);
        if (Ended(state_)) return;
        continue;
      }
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

void Coordinator::WorkerLeftLocked(MemberState* worker) {
  worker->drained = true;
  ++workers_drained_;
  ++changes_;
  LOG(INFO) << "worker " << worker->member.id() << " (pid "
            << worker->member.pid()
            << ") was drained; the job goes on without it";
  RemoveWorkerLocked(
      *worker, absl::StrCat("worker ", worker->member.id(), " was drained"),
      kExitJobFailed);
}

void Coordinator::WorkerSilentLocked(MemberState* worker, absl::Time now) {
  const int32_t id = worker->member.id();
  const v1::ClusterConfig& cluster = options_.config.cluster();
  // Nothing left to lose, or gone for good.
  if (worker->progress.done() || worker->drained) return;
  const std::string silent = absl::StrCat(
      "worker ", id, " (pid ", worker->member.pid(), ") sent no heartbeat for ",
      absl::FormatDuration(now - worker->last_seen));
  if (!worker->lost) {
    worker->lost = true;
    worker->lost_at = now;
    ++changes_;
    if (policy() == v1::CONTINUE) {
      RemoveWorkerLocked(*worker, silent, kExitPeerLost);
      return;
    }
  }
  if (policy() != v1::CONTINUE &&
      now - worker->lost_at >
          absl::Seconds(cluster.registration_timeout_seconds())) {
    EndLocked(v1::FAILED,
              absl::StrCat(silent, ", and no process replaced it within ",
                           cluster.registration_timeout_seconds(),
                           "s (cluster.registration_timeout_seconds)"),
              kExitPeerLost);
  }
}

void Coordinator::RemoveWorkerLocked(const MemberState& worker,
                                     const std::string& why, int exit_code) {
  if (!worker.progress.done()) {
    // The shards stop waiting for it (BSP, SSP) and refuse its pushes.
    const int32_t id = worker.member.id();
    lost_workers_.push_back(id);
    examples_skipped_ += std::max<int64_t>(
        0, WorkerExamples(options_, id) - worker.progress.examples());
  }
  const bool none_left =
      std::all_of(workers_.begin(), workers_.end(), [](const MemberState& w) {
        return (w.drained || w.lost) && !w.progress.done();
      });
  if (none_left) {
    EndLocked(v1::FAILED,
              absl::StrCat("every worker left or was lost; last: ", why),
              exit_code);
  }
}

bool Coordinator::EvaluationDue() const {
  absl::MutexLock lock(&mu_);
  return state_ == v1::RUNNING && evaluations_.Due(GlobalStepLocked());
}

bool Coordinator::AllWorkersDone() const {
  absl::MutexLock lock(&mu_);
  return state_ == v1::RUNNING && AllWorkersDoneLocked();
}

bool Coordinator::AllWorkersDoneLocked() const {
  const bool continuing = policy() == v1::CONTINUE;
  return std::all_of(
      workers_.begin(), workers_.end(), [continuing](const MemberState& w) {
        return w.progress.done() || w.drained || (continuing && w.lost);
      });
}

v1::Evaluation Coordinator::BeginEvaluation(bool final) {
  absl::MutexLock lock(&mu_);
  final_begun_ = final;
  return evaluations_.Begin(GlobalStepLocked(), EpochLocked(),
                            WallSecondsLocked(), final);
}

void Coordinator::RecordFinalTest(const v1::Evaluation& test) {
  absl::MutexLock lock(&mu_);
  final_test_ = test;
}

int64_t Coordinator::eval_every_steps() const {
  absl::MutexLock lock(&mu_);
  return evaluations_.eval_every_steps();
}

bool Coordinator::RecordEvaluation(const v1::Evaluation& evaluation) {
  absl::MutexLock lock(&mu_);
  if (final_begun_ && state_ == v1::RUNNING && AllWorkersDoneLocked()) {
    ConfirmDoneLocked(evaluation.parameter_version());
  }
  final_begun_ = false;
  const EvaluationTracker::Outcome outcome = evaluations_.Record(evaluation);
  if (!outcome.divergence.empty()) {
    EndLocked(v1::FAILED, outcome.divergence, kExitDiverged);
  } else if (outcome.patience_exhausted && state_ == v1::RUNNING &&
             !AllWorkersDoneLocked()) {
    stopped_early_ = true;
    EndLocked(v1::SUCCEEDED, "", kExitOk);
  }
  return outcome.best;
}

void Coordinator::ConfirmDoneLocked(int64_t version) {
  std::vector<int64_t> starts(limits_.size(), 0);
  if (options_.resume.has_value()) {
    for (const v1::WorkerCheckpoint& saved : options_.resume->workers()) {
      if (saved.worker() >= 0 &&
          saved.worker() < static_cast<int32_t>(starts.size())) {
        starts[saved.worker()] = saved.step();
      }
    }
  }
  const int64_t expected =
      UpdatesWhenDone(options_.config.train().consistency(), limits_, starts);
  if (version >= expected) return;
  ++progress_refused_;
  EndLocked(v1::FAILED,
            absl::StrCat("every worker reported done, but the shards applied ",
                         version, " updates of the ", expected,
                         " their steps take: progress reports that the "
                         "parameters do not show"),
            kExitJobFailed);
}

void Coordinator::Succeed() {
  absl::MutexLock lock(&mu_);
  EndLocked(v1::SUCCEEDED, "", kExitOk);
}

void Coordinator::Fail(const std::string& error, int exit_code) {
  absl::MutexLock lock(&mu_);
  EndLocked(v1::FAILED, error, exit_code);
}

void Coordinator::Interrupt(const std::string& why) {
  absl::MutexLock lock(&mu_);
  EndLocked(v1::INTERRUPTED, why, kExitInterrupted);
}

void Coordinator::EndLocked(v1::JobState state, const std::string& error,
                            int exit_code) {
  if (Ended(state_)) return;
  ++changes_;
  if (state_ == v1::RUNNING) finished_ = options_.clock();
  state_ = state;
  error_ = error;
  if (exit_code == kExitDiverged && !options_.divergence_hint.empty()) {
    absl::StrAppend(&error_, "; ", options_.divergence_hint);
  }
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
