// Checkpointer: the coordinator's side of checkpoints (README "Checkpoints
// and resume"). It decides when one is due (train.checkpoint: every
// every_steps global steps, every every_seconds of training), asks every
// shard for its state over the ParameterServer.Checkpoint RPC, writes the
// best parameters (early stopping) and, last, the manifest, then deletes
// all but the newest `keep` complete checkpoints.
//
// What one checkpoint captures:
//   BSP  every shard at the same step boundary (version T: after T steps of
//        every worker); each worker resumes at step min(T, its total
//        steps). One consistent model: a resumed job ends bit for bit as
//        the uninterrupted one.
//   ASP, SSP  each shard as the request finds it: versions may differ by
//        the pushes applied while the requests reach the shards (the
//        manifest records each version and their skew); each worker
//        resumes at the step it last reported (heartbeats, every 200 ms),
//        so pushes made after that report are made again.
#ifndef DESCENT_ROLES_CHECKPOINTER_H_
#define DESCENT_ROLES_CHECKPOINTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "descent/v1/checkpoint.pb.h"
#include "descent/v1/coordinator.pb.h"
#include "descent/v1/ps.grpc.pb.h"
#include "rpc/security.h"
#include "server/coordinator/coordinator.h"

namespace descent {

// Whether `train` asks for checkpoints (every_steps or every_seconds set).
bool CheckpointsOn(const v1::TrainConfig& train);

// BSP with train.checkpoint.every_steps: the shard versions at which
// periodic checkpoints are taken, every every_steps / num_workers steps of
// each worker (at least 1); each shard copies its state at every multiple
// (ParameterShardOptions::snapshot_every), so that the checkpoint holds
// exactly that boundary however late the coordinator asks for it. 0
// otherwise.
int64_t BoundaryEveryVersions(const v1::JobConfig& config);

// The config of the job whose output directory is `dir`, as its newest
// complete checkpoint recorded it (damaged newer ones are logged and passed
// over): NOT_FOUND or DATA_LOSS as FindLatestCheckpoint.
absl::StatusOr<v1::JobConfig> ConfigToResume(const std::string& dir);

// ConfigToResume(dir) with `overrides` ("PATH=VALUE", as --set) applied,
// defaults filled and validated, checked with CheckResumable: the config a
// resumed job runs with. INVALID_ARGUMENT for a bad or unsafe override.
absl::StatusOr<v1::JobConfig> ResumeConfig(
    const std::string& dir, const std::vector<std::string>& overrides);

// OK if a job checkpointed with config `saved` may resume with `now`: they
// differ at most in what a resume may change (train.epochs,
// eval_every_steps, early_stopping, checkpoint, max_loss_factor,
// gradient_norm_band, threads; cluster timeouts). INVALID_ARGUMENT naming
// the first other field that differs.
absl::Status CheckResumable(const v1::JobConfig& saved,
                            const v1::JobConfig& now);

struct CheckpointerOptions {
  v1::JobConfig config;  // resolved (defaults applied, job id set)
  std::string root;      // <output_dir>/checkpoints, absolute
  std::vector<v1::ShardInfo> shards;
  RpcSecurity security;  // for the shards' channels
  // Examples in the whole training set, which fix each worker's steps.
  int64_t train_examples = 0;
  // For each shard's answer; a BSP shard may first wait for its step.
  absl::Duration deadline = absl::Seconds(60);
  // A resumed job: N of the step-N checkpoint it resumed from, and that
  // checkpoint's shard versions. Every checkpoint taken is named above N.
  int64_t resumed_step = 0;
  std::vector<int64_t> resumed_versions;
};

// What one checkpoint took, for the log and the metrics.
struct CheckpointTaken {
  std::string dir;
  int64_t global_step = 0;
  int64_t bytes = 0;
  double seconds = 0;
  bool skipped = false;  // the state equals the previous checkpoint's
};

class Checkpointer {
 public:
  explicit Checkpointer(CheckpointerOptions options);

  // Whether a periodic checkpoint is due at `global_step`, with the shards
  // at `shard_versions` (as their heartbeats report them), and `now`.
  bool Due(int64_t global_step, const std::vector<int64_t>& shard_versions,
           absl::Time now);

  // Takes one (`reason`: "steps", "seconds", "interrupt", "final"), with
  // `best_tensors` (the bytes of best.safetensors) if not empty, the
  // parameters of evaluation `best_evaluation` of the history. At the end
  // (`final`: every worker done) the shards are asked for their state as it
  // is; before, with `periodic`, Due having found a shard past a
  // boundary (BoundaryEveryVersions), the last boundary the shards passed
  // (the copy they took there); else, under BSP, the next version every
  // shard will reach.
  // Gives up after `patience`.
  absl::StatusOr<CheckpointTaken> Take(const std::string& reason,
                                       const Coordinator& coordinator,
                                       const std::string& best_tensors,
                                       int best_evaluation, bool final,
                                       bool periodic, absl::Duration patience);

 private:
  // Asks every shard for its state at `at_version` into directory `name`.
  std::vector<absl::StatusOr<v1::CheckpointResponse>> AskShards(
      int64_t at_version, const std::string& name, absl::Duration deadline);

  const CheckpointerOptions options_;
  std::vector<std::unique_ptr<v1::ParameterServer::Stub>> stubs_;
  // Steps per epoch of each configured worker's first split.
  std::vector<int64_t> steps_per_epoch_;
  int64_t next_step_ = 0;
  absl::Time next_time_ = absl::InfiniteFuture();
  // The versions of the last checkpoint written (or resumed from), and N of
  // its name step-N: names only increase, so the newest checkpoint is the
  // one with the highest N, as FindLatestCheckpoint and PruneCheckpoints
  // take it, even where the global step the coordinator knows lags (right
  // after a resume, before every worker has reported), and no checkpoint is
  // written over a complete one of the same name.
  std::vector<int64_t> last_versions_;
  int64_t last_step_ = 0;
  // The latest boundary version asked for (BoundaryEveryVersions): one that
  // failed is not asked for again; the next boundary is.
  int64_t asked_version_ = 0;
  // Whether Due found a shard past the next boundary (rather than the
  // time due): Take then asks for that boundary.
  bool due_at_boundary_ = false;
};

}  // namespace descent

#endif  // DESCENT_ROLES_CHECKPOINTER_H_
