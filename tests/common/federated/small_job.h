// The small federated job the config tests start from: the MLP on
// synthetic data, K = 100 clients, 10 a round.
#ifndef DESCENT_TESTS_COMMON_FEDERATED_SMALL_JOB_H_
#define DESCENT_TESTS_COMMON_FEDERATED_SMALL_JOB_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/config.h"

namespace descent {

// The job with `overrides` (--set's syntax), as ParseJobConfig reads it.
inline absl::StatusOr<v1::JobConfig> SmallFederatedJob(
    const std::vector<std::string>& overrides) {
  static constexpr char kJob[] =
      "model { mlp { hidden: [8] } }\n"
      "data { synthetic { kind: LOGISTIC } }\n"
      "optimizer { sgd { learning_rate: 1 } }\n"
      "federated { clients: 100 client_fraction: 0.1 }\n";
  return ParseJobConfig(kJob, "job.textproto", overrides);
}

}  // namespace descent

#endif  // DESCENT_TESTS_COMMON_FEDERATED_SMALL_JOB_H_
