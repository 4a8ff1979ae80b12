// Secure aggregation's place in a job's config (job.proto
// SecureAggregationConfig): defaults, validation, options. The protocol is
// common/secagg/secure_aggregation.h; the shard's side
// server/shard/secure_aggregator.h; the clients' worker/federated_trainer.
#ifndef DESCENT_COMMON_FEDERATED_SECURE_CONFIG_H_
#define DESCENT_COMMON_FEDERATED_SECURE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "common/field_problem.h"
#include "common/secagg/secure_aggregation.h"
#include "descent/v1/job.pb.h"

namespace descent {

// threshold 0.5; clip_range: privacy.clip_norm with privacy, else 1.
// Nothing without a federated.secure_aggregation section.
void ApplySecureDefaults(v1::JobConfig* config);

// The first rule federated.secure_aggregation breaks, or nullopt: enabled
// must be set; threshold in [0.5, 1), clip_range in (0, 1e6],
// dropout_fraction in [0, 1); 2..255 clients per round (the sum of one
// client's update is that update; Shamir shares are numbered by a byte);
// the example-weighted mean (a robust rule needs each client's update);
// float32 pushes (train.communication unset).
std::optional<FieldProblem> FindSecureProblem(const v1::JobConfig& config);

// The resolved options of a valid config (enabled false without the
// section).
SecureOptions SecureOptionsOf(const v1::JobConfig& config);

// The round(dropout_fraction n) of a round's n `clients` (ascending) that
// drop after sharing their keys, chosen by (seed, round); ascending.
std::vector<int64_t> SecureDropouts(const SecureOptions& options, uint64_t seed,
                                    int64_t round,
                                    const std::vector<int64_t>& clients);

}  // namespace descent

#endif  // DESCENT_COMMON_FEDERATED_SECURE_CONFIG_H_
