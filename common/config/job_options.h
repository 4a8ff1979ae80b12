// The one step from a job's config to what each of its components is built
// with. The roles (roles/) and the launcher (cli/) take the settings they
// build components with from here instead of deriving them from the config
// themselves (the model's description, config.model(), goes to the model
// factory as it is; the Coordinator takes the whole config); every default
// lives in common/defaults.h.
//
// Expects a config that LoadJobConfig returned: defaults applied and valid
// (FindConfigIssue), so nothing here fails. Rules that take more than
// copying a field live here too: train.batch_size 0 is the worker's whole
// shard, the evaluator's batch, early stopping is on with a patience.
//
// Why plain values: the components' options structs live beside the
// components (TrainerOptions in worker/, ParameterShardOptions and
// CoordinatorOptions in server/), which depend on common/ and not the
// other way round, so common/ cannot build them. Each Resolve* function
// returns a struct of named fields that a role copies, field by field,
// into its component's options. Pure functions of their arguments, apart
// from AssignJobId's random id.
#ifndef DESCENT_COMMON_CONFIG_JOB_OPTIONS_H_
#define DESCENT_COMMON_CONFIG_JOB_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "descent/v1/job.pb.h"

namespace descent {

// Gives `config` a fresh job id (NewJobId) if it has none; keeps its own.
void AssignJobId(v1::JobConfig* config);

// Where the job's files go: `requested` (a --output_dir flag), or
// runs/<job id> if it is empty.
std::string OutputDirOf(const std::string& requested,
                        const v1::JobConfig& config);

// Whether the coordinator stops early (train.early_stopping.patience >= 1).
bool EarlyStoppingOn(const v1::TrainConfig& train);

// How every process of the job talks to the others.
struct ResolvedPeer {
  // Named on every RPC and heartbeat.
  std::string job_id;
  // A process silent this long is lost (cluster.heartbeat_timeout_seconds).
  absl::Duration heartbeat_timeout;
  // How long the job may wait for every member to register
  // (cluster.registration_timeout_seconds).
  absl::Duration registration_timeout;
  // The deadline of each parameter-server RPC (cluster.rpc_deadline_seconds).
  absl::Duration rpc_deadline;
  // Reach shards on this host through shared memory (cluster.shared_memory).
  bool shared_memory = true;
};
ResolvedPeer ResolvePeer(const v1::JobConfig& config);

// A worker's training: the config's part of TrainerOptions, and of the
// model it builds (CreateModel, CreateSparseModel).
struct ResolvedTrain {
  int epochs = 0;
  // Examples per step, >= 1: train.batch_size, or the whole shard for 0.
  // Also the model's max_batch, so a full-batch step fits its buffers.
  int batch_size = 0;
  // With the worker id, fixes each epoch's shuffle.
  uint64_t seed = 0;
  // Compute the next gradient while a push is in flight
  // (train.overlap_communication; validation allows it with ASP only).
  bool overlap = false;
  // Gradient clipping before each push (optimizer.clip_value, clip_norm).
  float clip_value = 0;
  float clip_norm = 0;
  // DP-SGD (privacy without federated): privacy.clip_norm per example.
  float example_clip_norm = 0;
  // The divergence guard (train.max_loss_factor; 0: non-finite checks only).
  double max_loss_factor = 0;
  // train.threads as configured (0: ResolveThreads decides).
  int threads = 0;
  // train.communication: the wire encoding and top-k fraction of dense
  // pushes, and local SGD (push every push_every steps, local steps at
  // local_learning_rate).
  v1::ValueEncoding encoding = v1::FLOAT32;
  double top_k_fraction = 0;
  int push_every = 1;
  float local_learning_rate = 0;
};
// For a worker whose data shard holds `shard_examples` examples (>= 1). A
// whole-shard batch larger than an int can count is capped there.
ResolvedTrain ResolveTrain(const v1::JobConfig& config, int64_t shard_examples);

// The config's part of ParameterShardOptions; the shard's index, its range
// of the parameters and the model's layout come from its registration.
struct ResolvedShard {
  std::string job_id;
  // Pushes from worker ids outside [0, num_workers) are refused.
  int32_t num_workers = 0;
  // Workers that join the running job take ids up to max_workers - 1.
  int32_t max_workers = 0;
  int num_shards = 0;
  // Initial values and sparse rows come from this seed (train.seed).
  uint64_t seed = 0;
  // The update rule, defaults applied.
  v1::OptimizerConfig optimizer;
  // The gate: train.consistency, staleness (SSP), backup_workers (BSP).
  v1::Consistency consistency = v1::ASP;
  int staleness = 0;
  int backup_workers = 0;
  // Sparse rows one shard creates at most (cluster.max_sparse_rows_per_shard).
  int64_t max_sparse_rows = 0;
};
ResolvedShard ResolveShard(const v1::JobConfig& config);

// The OpenMP threads a process's model gets: `configured` (train.threads)
// if positive; for 0 (the default) the cores this process may run on
// divided among the job's `local_workers` workers on this host (at least
// 1), since those compete for the cores; or 0, OpenMP's own default, when
// OMP_NUM_THREADS is set (the user's choice). Logged.
int ResolveThreads(int configured, int local_workers);

// The coordinator's evaluation of the test set.
struct ResolvedEval {
  // The evaluator's model: batches of up to max_batch test examples (a
  // dense forward pass takes the test set this many at a time; a sparse
  // one takes it whole) on `threads` OpenMP threads (train.threads as
  // configured; 0: ResolveThreads decides).
  int max_batch = 0;
  int threads = 0;
};
ResolvedEval ResolveEval(const v1::JobConfig& config);

}  // namespace descent

#endif  // DESCENT_COMMON_CONFIG_JOB_OPTIONS_H_
