// What a worker's progress report (WorkerProgress, cumulative) can say,
// from what the coordinator knows: the training set's size, each worker's
// share of it (SplitEvenly, worker k trains on share k), the batch size and
// the epochs. A report outside these bounds is forged or corrupt: the
// coordinator refuses it (INVALID_ARGUMENT naming the field and the bound)
// and changes nothing, so that no report can move a job past its real
// training or end it SUCCEEDED early.
//
// The checks, for worker w with limits L and its previous report `old`:
//   steps:    old.steps <= steps <= L.steps (the steps of all its epochs)
//   examples: old.examples <= examples <= L.examples (share * epochs), and
//             examples - old.examples <= (steps - old.steps) * L.batch
//   loss_count: old.loss_count <= loss_count <= steps, and it grows by no
//             more than steps do (one loss a push)
//   gradient_norm_count: old's <= it <= L.steps
//   gradient_norm_layers and _sums: as many of each, at most kMaxLayers
//   divergence: at most kMaxDivergenceBytes
//   done:     only with steps == L.steps
// Pure functions; thread-compatible.
#ifndef DESCENT_SERVER_COORDINATOR_PROGRESS_BOUNDS_H_
#define DESCENT_SERVER_COORDINATOR_PROGRESS_BOUNDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/federated/round_plan.h"  // kMaxRoundsPerReport
#include "descent/v1/coordinator.pb.h"
#include "descent/v1/job.pb.h"

namespace descent {

// One worker's bounds for a whole job.
struct WorkerLimits {
  int64_t share = 0;     // examples of its data shard
  int64_t batch = 1;     // most examples one step takes
  int64_t steps = 0;     // steps of all its epochs
  int64_t examples = 0;  // examples of all its epochs (share * epochs)
};

inline constexpr int kMaxLayers = 4096;
inline constexpr int kMaxDivergenceBytes = 4096;

// The limits of each of `train`'s workers (cluster.num_workers) over
// `train_examples` training examples. A step takes train.batch_size
// examples (the share with batch_size 0), ceil(share / batch) steps an epoch.
std::vector<WorkerLimits> WorkerLimitsOf(const v1::JobConfig& config,
                                         int64_t train_examples);

// A federated job's limits for each worker: `rounds` steps, each of at
// most every training example (its clients' n_k).
WorkerLimits FederatedLimits(const v1::JobConfig& config,
                             int64_t train_examples);

// OK if `now.rounds` can be worker `worker`'s round records in a job of
// `config` whose coordinator has recorded `recorded` rounds: only a
// federated job's workers send them, at most kMaxRoundsPerReport, rounds
// increasing within the job's and at most the worker's steps, counts,
// norms, losses and times finite and >= 0, accuracies in [0, 1]. Else
// INVALID_ARGUMENT naming the worker and the round.
absl::Status CheckRounds(const v1::JobConfig& config, int worker,
                         int64_t recorded, const v1::WorkerProgress& now);

// OK if `now` can follow `old` (the last report accepted; an empty message
// before any) from worker `worker` with limits `limits`; else
// INVALID_ARGUMENT: "worker W: progress.FIELD V ..." naming the bound.
absl::Status CheckProgress(int worker, const WorkerLimits& limits,
                           const v1::WorkerProgress& old,
                           const v1::WorkerProgress& now);

// The fewest updates every shard must have applied once the workers have
// reported `steps` (by worker; each a push answered), counting from the
// steps they started at (`start_steps`; 0 for a new job): under BSP one a
// global step (the most steps any worker took), otherwise one a push of
// every worker. A final evaluation that pulls an older version shows
// reports ("done" among them) that the shards never saw. Local SGD
// (train.communication.push_every H > 1) pushes once every H steps: at
// least floor(steps / H) a worker (a worker that crashed mid-window lost
// the steps it had not pushed).
int64_t UpdatesWhenDone(v1::Consistency consistency,
                        const std::vector<int64_t>& steps,
                        const std::vector<int64_t>& start_steps,
                        int push_every = 1);

// OK if a registration's fields can be right: `address` (servers: the
// address workers dial; nullptr for workers, who have none) HOST:PORT with a
// port in 1..65535, `metrics_address` empty or the same, `pid` in
// 0..2^31-1. Else INVALID_ARGUMENT naming `member` ("server 0", "a worker")
// and the field.
absl::Status CheckMemberFields(absl::string_view member,
                               const std::string* address,
                               absl::string_view metrics_address, int64_t pid);

// INVALID_ARGUMENT naming `member` unless `name` (a server's
// RegisterServerRequest.local_socket) is empty or 1 to 100 of
// [A-Za-z0-9._-].
absl::Status CheckLocalSocket(absl::string_view member, absl::string_view name);

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_PROGRESS_BOUNDS_H_
