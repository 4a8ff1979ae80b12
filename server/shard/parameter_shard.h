// ParameterShard: one contiguous slice [begin, end) of a job's flat dense
// parameter vector, the optimizer state of that slice, and the consistency
// gate that decides when a pushed gradient is applied. For sparse models it
// also holds its part of the sparse table: the rows of the keys that
// ShardOfKey places here, each created on its first push from the table's
// deterministic initial value (a pull of a row never pushed reads that
// value and stores nothing).
//
// Transport-neutral: it speaks protobuf messages and absl::Status, and the
// gRPC adapter (rpc/parameter_server_service.h) converts at the edge.
//
// Every request is validated before it touches state; an invalid one gets
// INVALID_ARGUMENT (malformed: bad slice, out of range, non-finite values,
// a step outside [0, kMaxStep], a base version outside [0, version],
// examples outside [0, kMaxExamples]) or FAILED_PRECONDITION (wrong job
// id, unknown worker) and leaves parameters, optimizer state and version
// unchanged; RejectReason() names the rule it broke. Updates are all or
// nothing: one whose result (parameters or optimizer state, dense or
// rows) would be infinite or NaN is refused INVALID_ARGUMENT naming the
// parameter and the worker; one that would create a sparse row past
// max_sparse_rows is refused RESOURCE_EXHAUSTED; either changes nothing. A push
// whose (worker id, request id) was seen recently is not applied again; it is
// answered as if it had been, once its gate opens.
//
// The consistency gate (consistency_gate.h) decides when a push's answer
// goes out. ASP and SSP apply each push on arrival; BSP adds each push for
// the current step to a GradientSum and applies their weighted mean once
// the step's last expected gradient arrives (bumping the version by one),
// and drops a gradient computed on an older version (answering at once
// with the current parameters). Held answers are callbacks: no thread
// waits. The answers released together are all at one version; the slice
// they take (PushPull) is encoded once for all of them under the lock, and
// copied into each response after the lock is dropped.
//
// Thread-safe.
#ifndef DESCENT_SERVER_SHARD_PARAMETER_SHARD_H_
#define DESCENT_SERVER_SHARD_PARAMETER_SHARD_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/defaults.h"
#include "common/federated/client_privacy.h"
#include "common/federated/robust_aggregation.h"
#include "common/model/param_layout.h"
#include "common/model/sparse_model.h"
#include "common/optim/optimizer.h"
#include "common/partition.h"
#include "descent/v1/ps.pb.h"
#include "server/shard/consistency_gate.h"
#include "server/shard/gradient_sum.h"
#include "server/shard/recent_request_ids.h"
#include "server/shard/secure_aggregator.h"

namespace descent {

// What became of one valid push, for metrics and tests.
struct PushRecord {
  int32_t worker = 0;
  int64_t step = 0;
  // The shard's version when the gradient was applied (BSP: added to its
  // step's sum) or dropped, minus the version it was computed on.
  int64_t staleness = 0;
  // ConsistencyGate::ClockLag of the push's step.
  int64_t clock_lag = 0;
  bool dropped = false;    // BSP: arrived after its step was applied
  bool duplicate = false;  // a retry of a push already counted

  // Set if this push caused an update of the slice: its own gradient (ASP,
  // SSP), or its step's mean when it completed the step (BSP).
  bool applied = false;
  // That update's time in the optimizer (dense slice and rows), under the
  // shard's lock, by the shard's clock.
  double apply_seconds = 0;
  // Whether that update measured the norms below: every norm_every-th
  // update, and any update a second or more after the last measured one.
  bool norms_measured = false;
  // L2 norms of the dense slice after the update, and of the change the
  // update made to it (new slice minus old; sparse rows not included).
  double parameter_norm = 0;
  double update_norm = 0;
  // ParameterShard::memory_bytes() after the push.
  int64_t memory_bytes = 0;
};

struct ParameterShardOptions {
  std::string job_id;
  // Requests from worker ids outside [0, num_workers) are refused, and
  // from [num_workers, max_workers) (workers that join the running job)
  // until WorkerJoined. max_workers 0: num_workers.
  int32_t num_workers = 1;
  int32_t max_workers = 0;
  // The slice of the flat parameter vector this shard owns.
  IndexRange range;
  // Initial values come from layout.Initialize(seed, range...).
  ParamLayout layout;
  uint64_t seed = 1;
  v1::OptimizerConfig optimizer;
  // This shard's index among num_shards (for key placement), and the
  // sparse table's rows (row_width 0: the model has no table, and requests
  // that name keys are refused).
  int shard = 0;
  int num_shards = 1;
  SparseTableSpec table;
  // The most sparse rows this shard creates
  // (cluster.max_sparse_rows_per_shard): a push that would create more is
  // refused with RESOURCE_EXHAUSTED (reason "row_limit"); rows it holds
  // still train.
  int64_t max_sparse_rows = defaults::kMaxSparseRowsPerShard;
  // The consistency model and its parameters (TrainConfig).
  v1::Consistency consistency = v1::ASP;
  int staleness = 0;
  int backup_workers = 0;
  // The shard copies its whole state at every version that is a multiple
  // of this (the periodic checkpoints' boundaries, BoundaryEveryVersions
  // in roles/checkpointer.h: steps under BSP, pushes under ASP and SSP)
  // and keeps the latest copy until a Capture of that version takes it, so
  // that a checkpoint asked for after the shard passed its boundary still
  // gets exactly that boundary. 0: no copies (and under ASP and SSP every
  // Capture takes the state as it is).
  int64_t snapshot_every = 0;
  // If set, called under the shard's lock right after each such copy (the
  // server sends a heartbeat at once, so that the coordinator asks for the
  // checkpoint soon): keep it short, and don't call the shard from it.
  std::function<void()> on_snapshot;
  // If set, called for every valid push, under the shard's lock: keep it
  // short, and don't call the shard from it.
  std::function<void(const PushRecord&)> observer;
  // Updates that measure the parameter and update norms (PushRecord): one
  // in norm_every, plus any a second after the last measurement; each
  // costs a copy of the changed part of the slice and two passes over it.
  // 0: never.
  int norm_every = 10;
  // Federated jobs with privacy (common/federated/client_privacy.h; BSP):
  // under CENTRAL noise each step's mean gets N(0, (z_delta C / m)^2) per
  // value, m the step's weight (its clients), C the step's clip norm; with
  // adaptive clipping every applied step sets the next C from the pushes'
  // `unclipped` counts, answered as clip_norm. Not enabled: neither.
  PrivacyOptions privacy;
  // Federated robust aggregation (common/federated/robust_aggregation.h):
  // with a per-client rule each push carries its clients' updates
  // (PushRequest.clients) and a step applies their aggregate.
  RobustOptions robust;
  // Federated secure aggregation (server/shard/secure_aggregator.h): the
  // shard serves SecureAggregation calls, and each BSP step applies the
  // round's unmasked sum (the workers' pushes are empty), or nothing if
  // the round's secure aggregation failed. `clients`: K.
  SecureOptions secure;
  int64_t clients = 0;
  // Tests: sees every masked input (SecureAggregatorOptions).
  std::function<void(int64_t client, absl::Span<const uint32_t> masked)>
      on_masked_input;
  // Times held answers and updates; tests inject a fake.
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// A shard's whole state at one version, for checkpoints
// (server/shard/shard_checkpoint.h): what a restarted shard needs to go on
// exactly as this one would have.
struct ShardState {
  int64_t version = 0;
  std::vector<float> params;  // the slice
  // Optimizer::State of the slice's optimizer ("optimizer/...") and of the
  // sparse rows' ("row_optimizer/...").
  std::vector<NamedTensor> optimizer;
  std::vector<NamedTensor> row_optimizer;
  // The sparse rows in creation order: keys, and row_width floats each.
  std::vector<uint64_t> keys;
  std::vector<float> rows;
  // Workers that have pushed their last gradient (nobody waits for them).
  std::vector<int32_t> left;
  // ASP and SSP: for each worker id, the steps of it the state holds (its
  // largest applied push's step + 1). Not in the checkpoint file: the
  // coordinator records it in the manifest.
  std::vector<int64_t> worker_steps;
  // Federated adaptive clipping: the clip norm of the round at `version`
  // (0: none).
  float clip_norm = 0;
};

// The rule a request refused by a ParameterShard broke, one of a fixed set
// (bounded, for a metric label): "wrong_job", "unknown_worker",
// "malformed" (shape or range: slice, keys, step, base version, examples),
// "non_finite" (a pushed value), "non_finite_result" (an update whose
// result, parameters or optimizer state, would not be finite),
// "future_version", "row_limit", "too_many_held", "closed"; "other" for a
// status the shard did not make.
std::string RejectReason(const absl::Status& status);

// `status` tagged with `reason` (one of those above), for RejectReason.
absl::Status Refuse(absl::Status status, const char* reason);

// The largest step (the worker's clock) a request may carry: 2^40, over a
// trillion steps, far from where step arithmetic (c + 1, c - s) overflows.
inline constexpr int64_t kMaxStep = int64_t{1} << 40;
// The most examples a push's gradient may be the mean over (BSP weights
// by it): 2^24, the largest count a float weight holds exactly.
inline constexpr int32_t kMaxExamples = 1 << 24;

// Pushes of one worker a shard holds at its gate at most; one more is
// refused (RESOURCE_EXHAUSTED, reason "too_many_held"). A worker waits for
// each push's answer before its next, so it has one held, plus the retries
// of a push whose answer it stopped waiting for: this bounds the requests
// a shard keeps at W x kMaxHeldPerWorker.
inline constexpr int kMaxHeldPerWorker = 8;

// Id the coordinator uses in request headers; it may pull, never push.
inline constexpr int32_t kCoordinatorWorkerId = -1;

class ParameterShard {
 public:
  // Called exactly once with the outcome of a push; possibly later and on
  // another thread, when the consistency gate lets the push through.
  using Done = std::function<void(absl::Status)>;

  // INVALID_ARGUMENT if the options are inconsistent (range outside the
  // layout, no optimizer).
  static absl::StatusOr<std::unique_ptr<ParameterShard>> Create(
      ParameterShardOptions options);

  // Validates the push and hands its gradient to the gate; once the gate
  // releases it, fills `response` (if not null) with the shard's version
  // and held_seconds (by options.clock, from when the gate took the push,
  // validated and under ASP and SSP applied, to its release: 0 if answered
  // at once) and calls `done` with OK (or at once with the error, leaving
  // `response` unchanged). `request` and `response` must stay valid until
  // `done` runs. Under ASP, and for an invalid push, `done` runs before Push
  // returns; under BSP and SSP it may run later, on the thread of another push.
  void Push(const v1::PushRequest& request, v1::PushResponse* response,
            Done done);

  // As Push, and `response` also receives the shard's whole slice (and the
  // rows of pull_keys) as they are when the answer is released: right
  // after this push was applied (ASP, SSP), or after its step was (BSP).
  void PushPull(const v1::PushRequest& request, v1::PushPullResponse* response,
                Done done);

  // Called once with the state a Capture asked for, or why it has none;
  // after the shard's lock is dropped.
  using Captured = std::function<void(absl::StatusOr<ShardState>)>;

  // Copies the shard's state. At once if `at_version` is 0, or the shard
  // is not BSP and takes no copies (options.snapshot_every 0); else when
  // its version becomes `at_version` (under BSP a step boundary: right
  // after that step's update, before the next), possibly from the thread
  // of the push that completes the step or the update, or at once from
  // the copy taken at `at_version` (options.snapshot_every) if the shard
  // has passed it. FAILED_PRECONDITION if the shard is already past
  // `at_version` without that copy (the message gives its version;
  // *version_now is the version of a later copy it holds, else its
  // version now); ABORTED if every worker leaves before the shard gets
  // there, or a later Capture supersedes this one while it waits;
  // UNAVAILABLE on Close().
  void Capture(int64_t at_version, Captured captured,
               int64_t* version_now = nullptr);
  // OK if `request` may ask for a checkpoint: this job's id, from the
  // coordinator (worker id -1), at_version >= 0.
  absl::Status ValidateCheckpoint(const v1::CheckpointRequest& request) const;

  // Replaces the state of a new shard (no push yet) with `state`, checking
  // that it fits: the slice's size, rows of row_width placed on this
  // shard, the optimizers' state. INVALID_ARGUMENT naming what does not
  // fit; then nothing changes.
  absl::Status Restore(ShardState state);

  // Warm start of a new shard (train.init_from): its slice becomes `slice`
  // and the sparse rows of `keys` placed on this shard become `rows`
  // (row_width each, in key order); the optimizer state stays fresh.
  // INVALID_ARGUMENT if the sizes do not fit; then nothing changes.
  absl::Status WarmStart(const std::vector<float>& slice,
                         const std::vector<uint64_t>& keys,
                         const std::vector<float>& rows);

  // The coordinator declared `worker` lost (cluster.on_worker_failure
  // CONTINUE): nobody waits for it from now on (a gradient of its already
  // in BSP's current step still counts), and its later pushes are refused
  // (FAILED_PRECONDITION, reason "lost"). Releases whatever that lets go.
  // No effect for a worker outside [0, num_workers) or already lost.
  void WorkerLost(int32_t worker);

  // The coordinator admitted `worker` (at or past num_workers) to the
  // running job: its pushes are accepted from now on, and the consistency
  // gate counts it from its first. No effect for other ids.
  void WorkerJoined(int32_t worker);

  // One secure aggregation phase call (job with secure aggregation only,
  // else FAILED_PRECONDITION); `done` runs when the phase's barrier
  // releases it, or at once with a refusal.
  void SecureAggregation(const v1::SecureAggregationRequest& request,
                         v1::SecureAggregationResponse* response, Done done);

  // Releases every held answer with UNAVAILABLE and refuses later pushes
  // (reason "closed"), so that a server can shut down without waiting for
  // workers that will never push again.
  void Close();

  // Copies the requested part of the slice into `response`. On error
  // leaves `response` unchanged.
  absl::Status Pull(const v1::PullRequest& request, v1::PullResponse* response);

  IndexRange range() const { return options_.range; }
  int64_t version() const;

  // A copy of the whole slice, for tests and checkpoints.
  std::vector<float> Snapshot() const;
  // Rows of the sparse table created so far (by pushes).
  int64_t sparse_rows() const;
  // L2 norm of the dense slice now.
  double parameter_norm() const;
  // Times the shard encoded its slice for PushPull answers: once per
  // release, however many answers (all at the release's version) take it.
  // For tests.
  int64_t slice_encodings() const;
  // Bytes the shard holds: parameters, optimizer state, sparse table and
  // its index, BSP's gradient sum and the decode and norm buffers (their
  // capacity; hash maps estimated from their slot count).
  int64_t memory_bytes() const;

 private:
  ParameterShard(ParameterShardOptions options,
                 std::unique_ptr<Optimizer> optimizer,
                 std::unique_ptr<Optimizer> row_optimizer);

  absl::Status ValidateHeader(const v1::RequestHeader& header,
                              bool allow_coordinator) const;
  absl::Status ValidatePush(const v1::PushRequest& request) const;
  // The checks of a validated push that read the shard's state: open, a
  // base version not ahead of the shard's, room at the gate for its worker.
  absl::Status CheckAdmissibleLocked(const v1::PushRequest& request) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK if `keys` are strictly increasing and all placed on this shard.
  absl::Status ValidateKeys(
      const google::protobuf::RepeatedField<uint64_t>& keys,
      const char* what) const;
  absl::Status ValidateRows(const v1::SparseRows& rows) const;
  // Validates a pull and resolves its range to [*begin, *begin + *length).
  absl::Status ValidatePull(const v1::PullRequest& request, uint64_t* begin,
                            uint64_t* length) const;

  // Answers the gate let go together, at one version, and the slice those
  // with `slice_to` take: params_ at that version, encoded once under the
  // lock (empty if no answer takes it).
  struct Release {
    std::vector<ConsistencyGate::Held> answers;
    std::string slice;
  };

  // Validates the push, admits it unless it is a duplicate, holds `answer`,
  // `slice_to` (null for Push) and `done` in the gate, and releases
  // whatever the gate lets go.
  void Submit(const v1::PushRequest& request,
              std::function<void(absl::Duration held)> answer,
              v1::PushPullResponse* slice_to, Done done);
  // Takes the answers the gate lets go now, runs each one's `answer` with
  // the time from its arrival to `now`, and encodes the slice if any of
  // them takes it.
  Release ReleaseLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Without the lock: copies the slice into the answers that take it (the
  // last gets the encoding itself), then runs every `done` with OK.
  void Finish(Release release) const;
  // FAILED_PRECONDITION if `header`'s worker was declared lost, or a later
  // incarnation of it has pushed; else records its incarnation.
  absl::Status AdmitIncarnationLocked(const v1::RequestHeader& header)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // BSP: applies the current step once every gradient it waits for is in
  // (a push, or a worker leaving, may complete it). An error: the step
  // could not be applied (ApplySumLocked) and its sum is dropped.
  absl::Status CompleteStepLocked(PushRecord* record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies, sums (BSP) or drops a validated push, as the gate's model
  // says. An error means nothing of the push was applied: under ASP and
  // SSP the push is refused and nothing changed; under BSP either the push
  // is refused (its new rows would pass the row limit) and nothing
  // changed, or (*step_refused) the step it completed could not be
  // applied: its sum is dropped, the version stays, and every answer of
  // the step gets the error.
  absl::Status AdmitLocked(const v1::PushRequest& request, bool* step_refused)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the gradient in `request` as one update, measured in *record;
  // all or nothing (parameter_shard_apply.cc).
  absl::Status ApplyLocked(const v1::PushRequest& request, PushRecord* record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // BSP: applies the mean of sum_ as one update, measured in *record, all
  // or nothing, and empties it.
  absl::Status ApplySumLocked(PushRecord* record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies `count` row gradients (row i: key_of(i), grad_of(i)), creating
  // rows on first touch; all or nothing: on a non-finite result or a new
  // row past the limit, every row (and its optimizer state) is as before
  // and created rows are gone.
  absl::Status ApplyRowsLocked(int64_t count,
                               absl::FunctionRef<uint64_t(int64_t)> key_of,
                               absl::FunctionRef<const float*(int64_t)> grad_of)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // BSP: refuses a push whose new rows, with those the step's sum already
  // brings, would pass the row limit; else notes them in pending_keys_.
  absl::Status ReserveRowsLocked(const v1::PushRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RowLimitError(uint64_t key) const;
  // "parameter 7 (tensor w element 7) or its optimizer state".
  std::string ParameterName(int64_t index) const;
  // Brackets an update that changes at most params_[position, position +
  // n): Begin returns its start time and, if norms are due, copies that
  // part to before_; End fills the update's fields of *record.
  absl::Time BeginUpdateLocked(int64_t position, int64_t n, bool* measure)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndUpdateLocked(absl::Time start, int64_t position, int64_t n,
                       bool measure, PushRecord* record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double ParameterNormLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t MemoryBytesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the rows of `keys` (validated) into *rows.
  void ReadRowsLocked(const google::protobuf::RepeatedField<uint64_t>& keys,
                      v1::SparseRows* rows) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The state as it is now.
  ShardState CaptureLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After an update or a worker leaving: copies the state at a snapshot
  // boundary, completes the pending capture if the shard has reached its
  // version, or fails it if nobody is left to take the shard there.
  void CheckPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs the captures completed under the lock; call without it.
  void FinishCaptures();

  // Constant after construction.
  const ParameterShardOptions options_;

  mutable absl::Mutex mu_;
  // Protected by mu_:
  std::vector<float> params_ ABSL_GUARDED_BY(mu_);
  // Copies of pushed values whose buffer is not float-aligned (FloatsOf);
  // empty while every push arrives aligned.
  std::vector<float> scratch_ ABSL_GUARDED_BY(mu_);
  std::vector<float> row_scratch_ ABSL_GUARDED_BY(mu_);
  // What the update being applied changed (dense slice, rows), to take it
  // back if its result is not finite; they keep their capacity (up to the
  // slice's size, parameters and optimizer state).
  UndoLog undo_ ABSL_GUARDED_BY(mu_);
  UndoLog row_undo_ ABSL_GUARDED_BY(mu_);
  // Rows the update being applied created.
  std::vector<uint64_t> new_keys_ ABSL_GUARDED_BY(mu_);
  // BSP: keys new to the table that the current step's sum brings.
  absl::flat_hash_set<uint64_t> pending_keys_ ABSL_GUARDED_BY(mu_);
  // The part of params_ an update changes, as it was before (for its norm).
  std::vector<float> before_ ABSL_GUARDED_BY(mu_);
  absl::Time norms_measured_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::unique_ptr<Optimizer> optimizer_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  RecentRequestIds recent_ ABSL_GUARDED_BY(mu_);
  // The sparse table: key -> index of its row in table_, which holds
  // row_width floats per row in creation order. The row optimizer's slice
  // is table_ (position = row index * row_width).
  absl::flat_hash_map<uint64_t, int64_t> row_of_ ABSL_GUARDED_BY(mu_);
  std::vector<float> table_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Optimizer> row_optimizer_ ABSL_GUARDED_BY(mu_);
  ConsistencyGate gate_ ABSL_GUARDED_BY(mu_);
  // BSP only: the current step's gradients.
  std::unique_ptr<GradientSum> sum_ ABSL_GUARDED_BY(mu_);
  // Federated privacy: the current round's clip norm, and the current
  // step's summed PushRequest.unclipped.
  float clip_norm_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t unclipped_ ABSL_GUARDED_BY(mu_) = 0;
  // Secure aggregation: the unmasked sum of the round it names, until the
  // step of that round is applied.
  std::optional<SecureSum> secure_sum_ ABSL_GUARDED_BY(mu_);
  // BSP: the configured workers of the last step applied, ascending, if
  // one is missing; else empty (PushPullResponse.step_workers).
  std::vector<int32_t> step_workers_ ABSL_GUARDED_BY(mu_);
  // BSP: workers whose last push is in sum_; they leave once it is applied.
  std::vector<int32_t> leaving_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Per worker: the latest incarnation that pushed, and whether the
  // coordinator declared it lost.
  std::vector<int32_t> incarnation_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> lost_ ABSL_GUARDED_BY(mu_);
  // ShardState::worker_steps, as the shard is now (ASP and SSP).
  std::vector<int64_t> worker_steps_ ABSL_GUARDED_BY(mu_);
  // Per worker: admitted (the configured ones from the start, joiners by
  // WorkerJoined), and whether a joiner's first push made it live.
  std::vector<bool> admitted_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> joined_ ABSL_GUARDED_BY(mu_);
  // The capture waiting for its version (BSP), and captures completed under
  // the lock that FinishCaptures hands over.
  struct Pending {
    int64_t at_version = 0;
    Captured captured;
  };
  std::optional<Pending> pending_ ABSL_GUARDED_BY(mu_);
  // BSP: the state at the last multiple of options_.snapshot_every the
  // shard reached, until a Capture takes it.
  std::optional<ShardState> snapshot_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<Captured, absl::StatusOr<ShardState>>> completed_
      ABSL_GUARDED_BY(mu_);
  int64_t slice_encodings_ ABSL_GUARDED_BY(mu_) = 0;
  // Null without secure aggregation; has its own lock, never taken under
  // mu_.
  std::unique_ptr<SecureAggregator> secure_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_SHARD_PARAMETER_SHARD_H_
