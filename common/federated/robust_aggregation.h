// Byzantine-robust aggregation of federated updates, and the attacks it is
// tried against (job.proto RobustAggregationConfig, AttackConfig).
//
// Under MEDIAN, TRIMMED_MEAN, KRUM and MULTI_KRUM each worker pushes its
// round's client updates one by one (PushRequest.clients) and each shard
// aggregates them over its slice with Aggregate (Krum's distances need the
// whole update: one shard). A norm bound is applied by the node hosting the
// client, where the update is whole (BoundNorm), before any rule; under
// MEAN it leaves the usual example-weighted mean of the bounded updates.
//
// Attackers are a seeded set of round(fraction K) clients (Attackers) that
// report a tampered update (Tamper) or train on flipped labels in every
// round they are sampled.
#ifndef DESCENT_COMMON_FEDERATED_ROBUST_AGGREGATION_H_
#define DESCENT_COMMON_FEDERATED_ROBUST_AGGREGATION_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "common/field_problem.h"
#include "descent/v1/job.pb.h"

namespace descent {

enum class AggregationRule { kMean, kMedian, kTrimmedMean, kKrum, kMultiKrum };

struct RobustOptions {
  AggregationRule rule = AggregationRule::kMean;
  double trim_fraction = 0.1;
  int byzantine = 0;          // f (Krum)
  int multi_krum_select = 1;  // m' (Multi-Krum)
  double norm_bound = 0;      // 0: none
  // Whether the shards get each client's update (a rule other than MEAN).
  bool per_client() const { return rule != AggregationRule::kMean; }
};

enum class AttackKind { kNone, kSignFlip, kScale, kGaussian, kLabelFlip };

struct AttackOptions {
  AttackKind kind = AttackKind::kNone;
  double fraction = 0;
  double scale = 1;
};

// Fills the absent fields of federated.aggregation and federated.attack
// (a federated config with its own defaults applied).
void ApplyRobustDefaults(v1::JobConfig* config);
// The first rule they break (fields from the JobConfig); nullopt if valid.
std::optional<FieldProblem> FindRobustProblem(const v1::JobConfig& config);
RobustOptions RobustOptionsOf(const v1::JobConfig& config);
AttackOptions AttackOptionsOf(const v1::JobConfig& config);

// Aggregates n = updates.size() (>= 1) updates of d floats each into
// out[0, d) by options.rule. Krum's f and Multi-Krum's m' are taken as
// configured, clamped to what n allows (a round with dropouts has fewer
// updates): the n - f - 2 nearest (at least 1, at most n - 1), m' in
// [1, n]. The result does not depend on the order of equal values and is
// the same at every run.
void Aggregate(const RobustOptions& options,
               absl::Span<const float* const> updates, int64_t d, float* out);

// Krum's scores: for each update, the sum of its squared distances to its
// `neighbours` nearest others (exposed for tests).
std::vector<double> KrumScores(absl::Span<const float* const> updates,
                               int64_t d, int neighbours);

// Scales `update` to L2 norm at most `bound` (> 0).
void BoundNorm(double bound, absl::Span<float> update);

// Which of `clients` clients attack: round(fraction clients) of them,
// chosen by `seed`; all false without an attack.
std::vector<bool> Attackers(const AttackOptions& attack, int64_t clients,
                            uint64_t seed);

// An attacker's report in round `round` in place of its honest `delta`
// (SIGN_FLIP, SCALE, GAUSSIAN; LABEL_FLIP changes the training instead and
// leaves it).
void Tamper(const AttackOptions& attack, uint64_t seed, int64_t round,
            int64_t client, absl::Span<float> delta);

}  // namespace descent

#endif  // DESCENT_COMMON_FEDERATED_ROBUST_AGGREGATION_H_
