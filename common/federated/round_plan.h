// Federated rounds, planned: which clients a round samples, which of them
// drop out or report late, and how long the round takes in simulated time
// (job.proto FederatedConfig). A plan is a pure function of the options,
// the clients' sizes and the round, so the coordinator and every worker
// compute the same plan alone, with no message between them: sampling is
// the coordinator's decision in the design, made reproducible by the seed.
//
// A round's attempt a samples ceil(m (1 + over_selection)) distinct
// clients (m the clients per round, at most K) from a generator seeded by
// (seed, round, a). Each drops out with dropout_probability (a hash of
// seed, round, attempt, client); the others report after local_epochs *
// n_k / speed_k simulated seconds, speed_k = speed_mean *
// exp(speed_sigma * z_k) with z_k a standard normal fixed per client. A
// report after the deadline is late; under over-selection only the m
// first (by time, then id) are used and the rest count as late. An attempt
// with fewer than min_reports used reports is retried, up to
// max_round_attempts; after the last, the round uses no report.
#ifndef DESCENT_COMMON_FEDERATED_ROUND_PLAN_H_
#define DESCENT_COMMON_FEDERATED_ROUND_PLAN_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "common/data/client_partition.h"
#include "common/federated/client_privacy.h"
#include "common/federated/robust_aggregation.h"
#include "common/federated/secure_config.h"
#include "common/field_problem.h"
#include "descent/v1/job.pb.h"

namespace descent {

// The most round records one worker progress report carries (worker 0
// sends at most this many; the coordinator refuses more).
inline constexpr int kMaxRoundsPerReport = 512;

// A job's FederatedConfig with its defaults resolved.
struct FederatedOptions {
  int64_t clients = 0;
  int64_t clients_per_round = 0;  // m, in [1, clients]
  int64_t rounds = 0;
  int local_epochs = 1;
  int local_batch_size = 10;  // 0: all of a client's examples
  float local_learning_rate = 0.1f;
  float local_momentum = 0;
  float proximal_mu = 0;
  int64_t eval_every_rounds = 1;  // 0: only after the last
  uint64_t seed = 1;
  PartitionOptions partition;
  double dropout_probability = 0;
  double speed_mean = 1000;
  double speed_sigma = 0;
  double round_deadline_seconds = 0;  // 0: none
  int64_t min_reports = 1;
  int max_round_attempts = 10;
  double over_selection = 0;
  double client_eval_fraction = 0;
  PrivacyOptions privacy;  // enabled: the job has a privacy section
  RobustOptions robust;
  AttackOptions attack;
  SecureOptions secure;
};

// The clients a round samples as configured: clients_per_round if set,
// else max(1, round(client_fraction * clients)) (not capped at clients).
int64_t PerRound(const v1::FederatedConfig& federated);

// Fills the absent fields of config->federated() with their defaults
// (seed: train.seed); nothing if the job has no federated section.
void ApplyFederatedDefaults(v1::JobConfig* config);

// The first rule the federated section breaks, its field a path from the
// JobConfig ("federated.clients"); nullopt if it is valid or absent.
// `num_workers` and the model's kind are checked too: at most K workers,
// a dense model, BSP.
std::optional<FieldProblem> FindFederatedProblem(const v1::JobConfig& config);

// The resolved options of a valid config with defaults applied.
FederatedOptions FederatedOptionsOf(const v1::JobConfig& config);

// The round's plan. Client ids are in [0, K).
struct RoundPlan {
  int attempts = 0;
  int64_t sampled = 0;  // over all attempts
  int64_t dropped = 0;
  int64_t late = 0;
  // The clients whose reports the round uses, ascending; empty if its last
  // attempt had too few.
  std::vector<int64_t> participants;
  double simulated_seconds = 0;
};

// `train_sizes[k]`: client k's training examples (n_k).
RoundPlan PlanRound(const FederatedOptions& options,
                    absl::Span<const int64_t> train_sizes, int64_t round);

// The seed of client k's local shuffles in round r.
uint64_t LocalSeed(const FederatedOptions& options, int64_t round,
                   int64_t client);

// Client k's simulated speed, in examples per simulated second.
double ClientSpeed(const FederatedOptions& options, int64_t client);

// The clients' data: the partition of the training split, each client's
// examples shuffled once (seeded) and cut into its training examples and,
// with client_eval_fraction f > 0, its held-out ones: the last
// max(1, floor(f n)) of them where n >= 2 (none where n < 2). Indices
// only, 4 bytes an example and 16 a client.
struct ClientData {
  ClientPartition partition;         // each client's examples, shuffled
  std::vector<int64_t> train_sizes;  // n_k; its first n_k are training
  int64_t clients() const { return partition.clients(); }
  absl::Span<const int32_t> train(int64_t k) const {
    return partition.examples(k).subspan(0, train_sizes[k]);
  }
  absl::Span<const int32_t> held_out(int64_t k) const {
    return partition.examples(k).subspan(train_sizes[k]);
  }
};

// Partitions `labels` (each in [0, num_classes); all 0 for regression
// data) as options.partition says, then shuffles and cuts each client's
// examples. PartitionClients' errors.
absl::StatusOr<ClientData> MakeClientData(const FederatedOptions& options,
                                          absl::Span<const int32_t> labels,
                                          int num_classes);

}  // namespace descent

#endif  // DESCENT_COMMON_FEDERATED_ROUND_PLAN_H_
