// Coordinator: the job's chief. It admits the job's S servers and W
// workers, assigns worker ids, data shards and the parameter shard map,
// follows heartbeats and progress, and decides the job's state:
//
//   REGISTERING --all S+W registered--> RUNNING --all workers done--> SUCCEEDED
//        |                                 |   \--early stopping------^
//        +--registration timeout--+--------+--missed heartbeat, Fail(),
//        FAILED <---------------------------- divergence
//                                          +--Interrupt()--> INTERRUPTED
//
// Its EvaluationTracker (evaluation_tracker.h) keeps the evaluations: the
// window of training losses and gradient norms, the schedule, the best
// evaluation and early stopping's patience, and the divergence of test
// losses. The Coordinator acts on what each recorded evaluation means:
//
// Evaluations measure the validation split when the job has one (the role
// then measures test once, at the end, on the selected model and hands it
// to RecordFinalTest), else the test split; "the loss" below is the
// validation loss, or the test loss without validation data.
//
// Early stopping (train.early_stopping): once `patience` evaluations in a
// row did not beat the best loss by more than min_delta, the job
// SUCCEEDS early (unless every worker is done: that final evaluation ends
// it anyway), and the summary's result is the best evaluation's.
//
// Divergence (train.max_loss_factor): a worker that reports a divergence in
// its progress, or an evaluation whose test loss is not finite or exceeds
// max_loss_factor times the first evaluation's, FAILS the job with exit
// code kExitDiverged.
//
// Transport-neutral: the gRPC adapter (rpc/coordinator_service.h)
// calls the Register*/Heartbeat/Status methods; the coordinator role's main
// loop calls Tick() and runs evaluations (server/coordinator_role.h).
// Requests that break a rule get INVALID_ARGUMENT or FAILED_PRECONDITION
// and change nothing. Time comes from the injected clock, so tests advance
// it without sleeping. Thread-safe.
#ifndef DESCENT_SERVER_COORDINATOR_COORDINATOR_H_
#define DESCENT_SERVER_COORDINATOR_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/exit_codes.h"
#include "common/optim/schedule.h"
#include "descent/v1/checkpoint.pb.h"
#include "descent/v1/coordinator.pb.h"
#include "server/coordinator/epoch_plans.h"
#include "server/coordinator/evaluation_tracker.h"
#include "server/coordinator/progress_bounds.h"

namespace descent {

struct CoordinatorOptions {
  // Validated, defaults applied, job_id set.
  v1::JobConfig config;
  // Model size P and the data's shape, which fix the shard map.
  int64_t num_parameters = 0;
  int64_t num_features = 0;
  int32_t num_classes = 0;  // 0 for regression data
  // Examples in the whole training set (all workers' shards).
  int64_t train_examples = 0;
  // The coordinator's own entry in the member list.
  v1::Member self;
  // Appended, after "; ", to the error of a job that diverged: what in the
  // data may have caused it (DataDescription::divergence_hint).
  std::string divergence_hint;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Where checkpoints go (absolute; RegisterServerResponse.checkpoint_root);
  // empty: the job takes none.
  std::string checkpoint_root;
  // A resumed job: the checkpoint it continues from, and that checkpoint's
  // directory (absolute). Shards restore their files, workers start at
  // their steps, and the evaluations, the schedule and the training time
  // go on from the manifest's.
  std::optional<v1::CheckpointManifest> resume;
  std::string resume_dir;
  // A resumed job that descent local rolled back after a server died: how
  // often so far and the global steps undid (summary.json).
  int server_restarts = 0;
  int64_t steps_lost = 0;
};

class Coordinator {
 public:
  // RESTART: how long a worker must have been silent before a new process
  // may take its id (ten heartbeat intervals).
  static constexpr absl::Duration kReplaceAfter = absl::Seconds(2);

  explicit Coordinator(CoordinatorOptions options);

  // Admits server `request.shard()`. Registering the same shard again from
  // the same address returns the same answer; from another address, or a
  // shard outside [0, S), is refused.
  absl::StatusOr<v1::RegisterServerResponse> RegisterServer(
      const v1::RegisterServerRequest& request);

  // Admits a worker and assigns it the next worker id and the data shard of
  // the same number. A retry with the same instance id gets the same id.
  // Once RUNNING, a worker that asks for no id joins the job (elastic
  // membership, cluster.max_workers): it gets the next id at or past W,
  // trains from the first epoch whose split is not handed out yet
  // (RegisterWorkerResponse.first_epoch), and every shard hears of it in its
  // next heartbeat answer (joined_workers). FAILED_PRECONDITION once every
  // id is taken, in the job's last epoch, or for full-batch jobs.
  //
  // Under cluster.on_worker_failure RESTART, a new process may take the id
  // of a worker that died: once the holder has been silent for
  // kReplaceAfter (or was declared lost), the newcomer gets the id, its data
  // shard, the next incarnation and the steps the dead one reported as its
  // start step. Before that it is answered UNAVAILABLE (so it retries); an
  // id held by a live process under the other policies is ALREADY_EXISTS.
  absl::StatusOr<v1::RegisterWorkerResponse> RegisterWorker(
      const v1::RegisterWorkerRequest& request);

  // Records that a registered member is alive (and a worker's progress; a
  // progress reporting a divergence fails the job); answers with the job
  // state and, once FAILED, the exit code and the error. A worker's
  // share_epoch gets its DataShare of that epoch (EpochPlans): not ready
  // for a joiner until every shard has acknowledged it (answered one more
  // heartbeat after the one that told it).
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request);

  v1::JobStatus Status() const;
  v1::JobState state() const;

  // Fails the job if registration or a server's heartbeat is overdue. A
  // worker silent for heartbeat_timeout_seconds fails it under
  // on_worker_failure FAIL; under CONTINUE it is declared lost (the job
  // fails only once every worker is); under RESTART the job waits
  // registration_timeout_seconds for a replacement, then fails.
  void Tick();

  // Blocks until a worker's progress or the job's state has changed since
  // the previous call returned, or `timeout` has passed, so that the main
  // loop evaluates as soon as a boundary is reported.
  void AwaitChange(absl::Duration timeout);

  // While RUNNING, the times a member went half the heartbeat timeout
  // without a heartbeat: one per silent spell, counted by the Tick() that
  // notices it (a member silent for the whole timeout, which fails the job,
  // counts once too).
  int64_t heartbeats_missed() const;

  // Requests refused because a field broke its bound (progress_bounds.h:
  // forged or corrupt progress, a server version going back, an id, role,
  // address or pid out of range); each changed nothing.
  int64_t progress_refused() const;

  // The optimizer schedule's learning rate for the next update: at the
  // global step under ASP and SSP (every push is an update), at the global
  // step divided by the workers under BSP (one update per step of all of
  // them). 0 if the config names no valid optimizer.
  double learning_rate() const;

  // True while RUNNING and the global step has reached the next periodic
  // evaluation's boundary: once for every boundary passed, however late.
  bool EvaluationDue() const;
  // The interval of periodic evaluations: train.eval_every_steps, or if
  // unset DefaultEvalEverySteps of the job's total steps (from
  // train_examples, the workers, batch_size and epochs).
  int64_t eval_every_steps() const;
  // True while RUNNING and every worker has reported done.
  bool AllWorkersDone() const;

  // Starts an evaluation: the step, epoch, wall time, the boundary it is due
  // at, and the mean training loss and gradient norms since the previous
  // evaluation. The caller fills in the parameter version and the figures
  // (validation or test) and hands it to RecordEvaluation. `final`: the one
  // taken once every worker is done, which covers any boundary still
  // pending (the parameters no longer change).
  v1::Evaluation BeginEvaluation(bool final = false);
  // Records a finished evaluation. Returns true if it is the best so far
  // (the caller keeps its parameters). May end the job: FAILED if its test
  // loss diverged, SUCCEEDED if early stopping's patience ran out. The
  // final one (begun with `final` once every worker reported done) FAILS the
  // job, exit code kExitJobFailed, if its parameter_version is fewer updates
  // than the workers' steps take: their "done" was never pushed.
  bool RecordEvaluation(const v1::Evaluation& evaluation);

  // With validation data: the test figures of the selected model, measured
  // once at the end; the summary's test_* fields.
  void RecordFinalTest(const v1::Evaluation& test);

  // Ends the job. No effect once it has ended.
  void Succeed();
  void Fail(const std::string& error, int exit_code = kExitJobFailed);
  // Ends the job INTERRUPTED (by a signal: `why`), exit code
  // kExitInterrupted.
  void Interrupt(const std::string& why);

  // The process exit code for the job as it stands (common/exit_codes.h): 0
  // unless it FAILED; kExitPeerLost for timeouts, kExitDiverged for
  // divergence, Fail()'s code otherwise.
  int exit_code() const;

  // True once every server and worker has been told the job ended (by a
  // heartbeat answer), so the coordinator may exit.
  bool AllNotified() const;

  // The job as summary.json records it (exit_status is left for the caller).
  v1::JobSummary Summary() const;

  // A federated job's round records so far (worker 0's reports), in round
  // order, for rounds.csv: those from the `from`-th record on.
  std::vector<v1::FederatedRound> Rounds(size_t from = 0) const;
  // The round after the last one recorded (a resumed job: at least the
  // round it resumed at).
  int64_t RoundsRecorded() const;

  // The versions the servers last reported in their heartbeats, by shard
  // (0 before any).
  std::vector<int64_t> ShardVersions() const;
  // The steps each configured worker takes over the job: its parts of the
  // epoch plans, those not fixed yet as today's members would split them.
  std::vector<int64_t> TotalSteps() const;
  // The coordinator's part of a checkpoint: global step, every worker's
  // progress (WorkerCheckpoint: `steps_per_epoch` of each worker's data
  // order), the epoch plans, the evaluations, the next boundary, the
  // training time, and the round records of the rounds before
  // manifest->version() (set first).
  void FillCheckpoint(const std::vector<int64_t>& steps_per_epoch,
                      v1::CheckpointManifest* manifest) const;

 private:
  struct MemberState {
    bool registered = false;
    v1::Member member;
    absl::Time last_seen;
    bool notified = false;  // told of the job's end
    bool overdue = false;   // silent for half the timeout; counted
    uint64_t instance_id = 0;
    v1::WorkerProgress progress;
    int64_t version = 0;     // servers: the shard's, as last reported
    double recent_loss = 0;  // mean batch loss between its last heartbeats
    // Workers: processes that held the id before the current one.
    int32_t incarnation = 0;
    // Workers: declared lost (silent past the heartbeat timeout), since.
    bool lost = false;
    absl::Time lost_at;
    // Workers: drained (left for good, HeartbeatRequest.leaving).
    bool drained = false;
    // Workers: RegisterWorkerResponse.first_epoch and clock_offset; when a
    // worker that joined the running job did.
    int32_t first_epoch = 0;
    int64_t clock_offset = 0;
    absl::Time joined_at;
    // Servers: the heartbeat before the last.
    absl::Time seen_before;
  };

  MemberState* FindLocked(v1::Role role, int32_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RESTART: whether a new process may take `worker`'s id now.
  // Federated jobs: the worker whose round records count, the lowest of
  // the configured workers not lost or drained (HeartbeatResponse.recorder).
  int32_t RecorderLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ReplaceableLocked(const MemberState& worker, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands `worker`'s id to a new process: the next incarnation, starting at
  // the steps the dead one reported.
  void ReplaceLocked(MemberState* worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A worker that said it is leaving (drained): the job goes on without
  // it under every policy; fails the job if no worker is left.
  void WorkerLeftLocked(MemberState* worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A worker silent past the heartbeat timeout, as the policy says.
  void WorkerSilentLocked(MemberState* worker, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A worker the job goes on without (drained, or lost under CONTINUE):
  // the shards stop waiting for it and refuse its pushes, and the rest of
  // its data shard is skipped. Fails the job, with `exit_code` and `why`,
  // once no worker is left to train.
  void RemoveWorkerLocked(const MemberState& worker, const std::string& why,
                          int exit_code) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::WorkerFailurePolicy policy() const {
    return options_.config.cluster().on_worker_failure();
  }
  void StartIfCompleteLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndLocked(v1::JobState state, const std::string& error, int exit_code)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK if `request`'s role, id, version and progress are within their
  // bounds (progress_bounds.h); else INVALID_ARGUMENT naming the field.
  absl::Status CheckHeartbeatLocked(const v1::HeartbeatRequest& request) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateProgressLocked(MemberState* worker, const v1::WorkerProgress& p)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The final evaluation pulled parameters at `version`: FAILS the job if
  // that is fewer updates than the workers' reported steps take
  // (UpdatesWhenDone), so a forged "done" never ends it SUCCEEDED.
  void ConfirmDoneLocked(int64_t version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AllWorkersDoneLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Workers may join the running job: cluster.max_workers above
  // num_workers, and mini-batches (a full-batch job keeps its split).
  bool JoinableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets up `worker` (id at or past W) as a worker that joins now.
  absl::Status JoinLocked(MemberState* worker, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The bounds of worker `id`'s progress: its parts of the epoch plans,
  // those not fixed yet projected with today's members.
  WorkerLimits LimitsLocked(int32_t id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `worker`'s DataShare of `epoch`.
  v1::DataShare ShareLocked(const MemberState& worker, int32_t epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The epoch `worker` trains in now, by its examples (fixing the plans up
  // to it).
  int CurrentEpochLocked(const MemberState& worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The examples handed out to workers the job went on without that they
  // did not train on.
  int64_t ExamplesSkippedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double WallSecondsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // summary->privacy: the job's privacy options and what its last
  // recorded round spent.
  void FillPrivacySummaryLocked(v1::JobSummary* summary) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double TrainLossLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t GlobalStepLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t ExamplesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double EpochLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const CoordinatorOptions options_;
  const std::vector<v1::ShardInfo> shard_ranges_;  // addresses empty
  const absl::Time created_;
  const LearningRateSchedule schedule_;

  mutable absl::Mutex mu_;
  // Protected by mu_:
  v1::JobState state_ ABSL_GUARDED_BY(mu_) = v1::REGISTERING;
  std::string error_ ABSL_GUARDED_BY(mu_);
  int exit_code_ ABSL_GUARDED_BY(mu_) = kExitOk;
  int64_t heartbeats_missed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t progress_refused_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<MemberState> servers_ ABSL_GUARDED_BY(mu_);  // by shard
  // By worker id: W configured, then slots for joiners (max_workers).
  std::vector<MemberState> workers_ ABSL_GUARDED_BY(mu_);
  EpochPlans plans_ ABSL_GUARDED_BY(mu_);
  // Workers that joined the running job, in order (HeartbeatResponse.
  // joined_workers).
  std::vector<int32_t> joined_workers_ ABSL_GUARDED_BY(mu_);
  absl::Time started_ ABSL_GUARDED_BY(mu_);   // entered RUNNING
  absl::Time finished_ ABSL_GUARDED_BY(mu_);  // left RUNNING
  EvaluationTracker evaluations_ ABSL_GUARDED_BY(mu_);
  // Whether early stopping ended the job.
  bool stopped_early_ ABSL_GUARDED_BY(mu_) = false;
  // Counts progress reports and state changes, for AwaitChange.
  int64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t changes_seen_ ABSL_GUARDED_BY(mu_) = 0;
  // Worker failures: ids declared lost (CONTINUE) or drained before done,
  // in order; processes that replaced a dead worker.
  std::vector<int32_t> lost_workers_ ABSL_GUARDED_BY(mu_);
  int32_t worker_restarts_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t workers_drained_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether the evaluation begun last is the final one, which
  // RecordEvaluation checks against the workers' reports (ConfirmDoneLocked).
  bool final_begun_ ABSL_GUARDED_BY(mu_) = false;
  // RecordFinalTest's evaluation, if any.
  std::optional<v1::Evaluation> final_test_ ABSL_GUARDED_BY(mu_);
  // Federated jobs: the rounds recorded, and the round after the last.
  std::vector<v1::FederatedRound> rounds_ ABSL_GUARDED_BY(mu_);
  int64_t rounds_recorded_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_COORDINATOR_H_
