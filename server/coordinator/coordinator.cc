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

// Worker ids: the configured W, then cluster.max_workers' slots for
// workers that join the running job.
int MaxWorkers(const v1::ClusterConfig& cluster) {
  return std::max(cluster.num_workers(), cluster.max_workers());
}

EpochPlans PlansOf(const CoordinatorOptions& options) {
  const v1::JobConfig& config = options.config;
  // A full-batch job's step is its worker's whole share: its split stays.
  const bool split = config.cluster().lost_worker_data() != v1::DROP &&
                     config.train().batch_size() > 0;
  EpochPlans plans(options.train_examples, config.train().epochs(),
                   config.cluster().num_workers(), split);
  if (options.resume.has_value()) {
    plans.Restore(
        {options.resume->plans().begin(), options.resume->plans().end()});
  }
  return plans;
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
      servers_(options_.config.cluster().num_servers()),
      workers_(MaxWorkers(options_.config.cluster())),
      plans_(PlansOf(options_)),
      evaluations_(TrackerOptions(options_)) {
  if (options_.resume.has_value()) {
    for (const v1::WorkerCheckpoint& saved : options_.resume->workers()) {
      if (saved.worker() < 0 ||
          saved.worker() >= options_.config.cluster().num_workers()) {
        continue;
      }
      workers_[saved.worker()].first_epoch = saved.first_epoch();
      workers_[saved.worker()].clock_offset = saved.clock_offset();
    }
    evaluations_.Restore(
        {options_.resume->history().begin(), options_.resume->history().end()},
        options_.resume->next_evaluation_step());
    // The recorder trains on from the checkpoint's round: records never
    // sent before it cannot come any more.
    rounds_.assign(options_.resume->rounds().begin(),
                   options_.resume->rounds().end());
    rounds_recorded_ =
        options_.config.has_federated() ? options_.resume->version() : 0;
    if (!rounds_.empty()) {
      rounds_recorded_ = std::max(rounds_recorded_, rounds_.back().round() + 1);
    }
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
  RETURN_IF_ERROR(
      CheckLocalSocket(absl::StrCat("server ", shard), request.local_socket()));
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
  slot.member.set_local_socket(request.local_socket());
  StartIfCompleteLocked(now);

  v1::RegisterServerResponse response;
  *response.mutable_config() = options_.config;
  response.set_begin(shard_ranges_[shard].begin());
  response.set_end(shard_ranges_[shard].end());
  response.set_num_features(options_.num_features);
  response.set_num_classes(options_.num_classes);
  response.set_checkpoint_root(options_.checkpoint_root);
  if (options_.resume.has_value()) {
    for (const v1::WorkerCheckpoint& saved : options_.resume->workers()) {
      if (saved.worker() >= 0 &&
          saved.worker() < options_.config.cluster().num_workers() &&
          saved.step() >= LimitsLocked(saved.worker()).steps) {
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
  const auto configured =
      workers_.begin() + options_.config.cluster().num_workers();
  // A configured id first, then a dead worker's, then (once RUNNING) a
  // joiner's.
  auto free = std::find_if(workers_.begin(), configured,
                           [](auto& w) { return !w.registered; });
  if (free == configured) {
    free = std::find_if(workers_.begin(), workers_.end(),
                        [&](auto& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                          return ReplaceableLocked(w, now);
                        });
  }
  if (free == workers_.end() && state_ == v1::RUNNING && JoinableLocked()) {
    free = std::find_if(configured, workers_.end(),
                        [](auto& w) { return !w.registered; });
  }
  if (request.has_requested_id() && same == workers_.end()) {
    const int32_t wanted = request.requested_id();
    if (wanted < 0 || wanted >= static_cast<int32_t>(workers_.size())) {
      const int configured_workers = options_.config.cluster().num_workers();
      return absl::InvalidArgumentError(absl::StrCat(
          "worker id ", wanted, " is out of range: the job has ",
          configured_workers, " workers, ids 0..", configured_workers - 1,
          ", and ids up to ", workers_.size() - 1,
          " for workers that join it (cluster.max_workers)"));
    }
    const MemberState& holder = workers_[wanted];
    if (workers_.begin() + wanted >= configured && !holder.registered) {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker id ", wanted, " is not one of the job's ",
          options_.config.cluster().num_workers(),
          " workers: start the worker without --worker_id to join the job"));
    }
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
    const int configured_workers = options_.config.cluster().num_workers();
    if (state_ == v1::RUNNING && !JoinableLocked()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the job already has its ", configured_workers, " workers",
          options_.config.train().batch_size() == 0
              ? " and trains full batches (train.batch_size 0), whose split "
                "cannot change"
              : " and takes no more (cluster.max_workers)"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "the job already has its ", configured_workers, " workers",
        state_ == v1::RUNNING
            ? absl::StrCat(" and ", workers_.size() - configured_workers,
                           " that joined (cluster.max_workers ",
                           workers_.size(), ")")
            : "; workers may join once it runs"));
  }
  if (same == workers_.end() && !free->registered &&
      state_ != v1::REGISTERING && free < configured) {
    return absl::FailedPreconditionError("the job is no longer registering");
  }
  MemberState& slot = same != workers_.end() ? *same : *free;
  const int32_t id = static_cast<int32_t>(&slot - workers_.data());
  const bool replacing = same == workers_.end() && slot.registered;
  if (replacing) ReplaceLocked(&slot);
  if (same == workers_.end() && !slot.registered && free >= configured) {
    RETURN_IF_ERROR(JoinLocked(&slot, now));
  }
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
  response.set_num_data_shards(options_.config.cluster().num_workers());
  response.set_num_features(options_.num_features);
  response.set_num_classes(options_.num_classes);
  response.set_incarnation(slot.incarnation);
  response.set_first_epoch(slot.first_epoch);
  response.set_clock_offset(slot.clock_offset);
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

std::vector<v1::FederatedRound> Coordinator::Rounds(size_t from) const {
  absl::MutexLock lock(&mu_);
  if (from >= rounds_.size()) return {};
  return std::vector<v1::FederatedRound>(rounds_.begin() + from, rounds_.end());
}

int32_t Coordinator::RecorderLocked() const {
  const int32_t workers = options_.config.cluster().num_workers();
  for (int32_t w = 0; w < workers; ++w) {
    const MemberState& m = workers_[w];
    if (!m.lost && !m.drained) return w;
  }
  return 0;
}

int64_t Coordinator::RoundsRecorded() const {
  absl::MutexLock lock(&mu_);
  return rounds_recorded_;
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
  member->seen_before = member->last_seen;
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
    for (int32_t joined : joined_workers_) response.add_joined_workers(joined);
  }
  if (request.role() == v1::WORKER) {
    response.set_rounds_recorded(rounds_recorded_);
    response.set_recorder(RecorderLocked());
  }
  if (request.role() == v1::WORKER && request.has_share_epoch()) {
    *response.mutable_share() = ShareLocked(*member, request.share_epoch());
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
  if (request.has_share_epoch() &&
      (request.share_epoch() < 0 ||
       request.share_epoch() > options_.config.train().epochs())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker ", id, ": share_epoch ", request.share_epoch(),
        " is outside the job's epochs 0..", options_.config.train().epochs()));
  }
  if (!request.has_progress()) return absl::OkStatus();
  RETURN_IF_ERROR(
      CheckRounds(options_.config, id, rounds_recorded_, request.progress()));
  return CheckProgress(id, LimitsLocked(id), members[id].progress,
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
  // Round records are kept once, here, not in every report, and only the
  // recorder's: a former recorder's may still come.
  const bool recorder = worker == &workers_[RecorderLocked()];
  for (const v1::FederatedRound& round : p.rounds()) {
    if (!recorder) break;
    if (round.round() < rounds_recorded_) continue;  // sent again
    rounds_.push_back(round);
    rounds_recorded_ = round.round() + 1;
  }
  worker->progress.clear_rounds();
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
  const auto configured =
      workers_.begin() + options_.config.cluster().num_workers();
  if (state_ == v1::REGISTERING &&
      std::all_of(servers_.begin(), servers_.end(), registered) &&
      std::all_of(workers_.begin(), configured, registered)) {
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
                           cluster.num_workers(), " workers registered"),
              kExitPeerLost);
    return;
  }
  if (state_ != v1::RUNNING) return;
  const absl::Duration timeout =
      absl::Seconds(cluster.heartbeat_timeout_seconds());
  for (std::vector<MemberState>* members : {&servers_, &workers_}) {
    for (MemberState& m : *members) {
      // Gone for good, by request; or a joiner's slot nobody took.
      if (m.drained || !m.registered) continue;
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
    // The shards stop waiting for it (BSP, SSP) and refuse its pushes; the
    // rest of the epoch it is in goes untrained, and later epochs are split
    // among the others (SPLIT) or skip its part (DROP).
    const int32_t id = worker.member.id();
    lost_workers_.push_back(id);
    CurrentEpochLocked(worker);
    plans_.Remove(id);
  }
  const bool none_left =
      std::all_of(workers_.begin(), workers_.end(), [](const MemberState& w) {
        return !w.registered || ((w.drained || w.lost) && !w.progress.done());
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
  return std::all_of(workers_.begin(), workers_.end(),
                     [continuing](const MemberState& w) {
                       return !w.registered || w.progress.done() || w.drained ||
                              (continuing && w.lost);
                     });
}

bool Coordinator::JoinableLocked() const {
  return static_cast<int>(workers_.size()) >
             options_.config.cluster().num_workers() &&
         options_.config.train().batch_size() > 0;
}

absl::Status Coordinator::JoinLocked(MemberState* worker, absl::Time now) {
  const int32_t id = static_cast<int32_t>(worker - workers_.data());
  const int first = plans_.next_epoch();
  if (first >= plans_.epochs()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the job is in its last epoch (", plans_.epochs(),
                     "): every epoch's data is already shared out, so there is "
                     "nothing left for a new worker to train"));
  }
  // Its clock starts at the slowest training worker's, so that SSP does
  // not hold the others back until it has caught up from 0.
  int64_t slowest = -1;
  for (const MemberState& w : workers_) {
    if (!w.registered || w.lost || w.drained || w.progress.done()) continue;
    const int64_t clock = w.clock_offset + w.progress.steps();
    slowest = slowest < 0 ? clock : std::min(slowest, clock);
  }
  worker->first_epoch = first;
  worker->clock_offset = std::max<int64_t>(0, slowest);
  worker->joined_at = now;
  plans_.Join(id);
  joined_workers_.push_back(id);
  ++changes_;
  LOG(INFO) << "worker " << id << " joins the running job from epoch " << first
            << " (clock " << worker->clock_offset << ")";
  return absl::OkStatus();
}

WorkerLimits Coordinator::LimitsLocked(int32_t id) const {
  if (options_.config.has_federated()) {
    return FederatedLimits(options_.config, options_.train_examples);
  }
  return plans_.LimitsOf(id, options_.config.train().batch_size(),
                         /*projected=*/true);
}

v1::DataShare Coordinator::ShareLocked(const MemberState& worker,
                                       int32_t epoch) {
  v1::DataShare share;
  share.set_epoch(epoch);
  const bool acknowledged = std::all_of(
      servers_.begin(), servers_.end(), [&worker](const MemberState& s) {
        return s.seen_before > worker.joined_at;
      });
  if (worker.joined_at != absl::Time() && !acknowledged) return share;
  share.set_ready(true);
  const std::optional<IndexRange> part =
      epoch < worker.first_epoch ? std::nullopt
                                 : plans_.ShareOf(worker.member.id(), epoch);
  if (!part.has_value()) {
    share.set_none(true);
    return share;
  }
  share.set_begin(part->begin);
  share.set_end(part->end);
  return share;
}

int Coordinator::CurrentEpochLocked(const MemberState& worker) {
  int64_t before = 0;
  int epoch = worker.first_epoch;
  for (; epoch < plans_.epochs(); ++epoch) {
    const std::optional<IndexRange> part =
        plans_.ShareOf(worker.member.id(), epoch);
    before += part.has_value() ? part->size() : 0;
    if (before > worker.progress.examples()) break;
  }
  return epoch;
}

int64_t Coordinator::ExamplesSkippedLocked() const {
  const int batch = options_.config.train().batch_size();
  int64_t skipped = 0;
  for (int32_t id : lost_workers_) {
    skipped += std::max<int64_t>(0, plans_.LimitsOf(id, batch).examples -
                                        workers_[id].progress.examples());
  }
  return skipped;
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
  const bool bsp = options_.config.train().consistency() == v1::BSP;
  // Under BSP a joiner's first push may miss its step (it computed on older
  // parameters): only the configured workers count there.
  const size_t counted =
      bsp ? options_.config.cluster().num_workers() : workers_.size();
  std::vector<int64_t> steps(counted, 0);
  std::vector<int64_t> starts(counted, 0);
  for (size_t w = 0; w < counted; ++w) steps[w] = workers_[w].progress.steps();
  if (options_.resume.has_value()) {
    for (const v1::WorkerCheckpoint& saved : options_.resume->workers()) {
      if (saved.worker() >= 0 &&
          saved.worker() < static_cast<int32_t>(starts.size())) {
        starts[saved.worker()] = saved.step();
      }
    }
  }
  const int64_t expected =
      UpdatesWhenDone(options_.config.train().consistency(), steps, starts,
                      options_.config.train().communication().push_every());
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
