// SecureClients: the clients' side of secure aggregation (Bonawitz et al.
// 2017; common/secagg/secure_aggregation.h has the protocol) for the
// clients one worker hosts in a round, every shard its own server for its
// slice (server/shard/secure_aggregator.h). Each client gets fresh keys
// and a fresh self-mask seed every round; its input is its weighted update
// in fixed point, masked over the whole parameter vector and sent to each
// shard as that shard's slice, followed by its weight and unclipped count.
// The round's sum reaches the shards only: this side learns the clients
// that took part, never another client's update.
#ifndef DESCENT_WORKER_SECURE_CLIENT_H_
#define DESCENT_WORKER_SECURE_CLIENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/ps_client.h"
#include "common/secagg/secure_aggregation.h"

namespace descent {

class SecureClients {
 public:
  // One client's input: its update over [0, P) (values clamped to
  // [-clip_range, clip_range]), its weight, its unclipped bit.
  struct Input {
    int64_t client = 0;
    const float* values = nullptr;
    double weight = 0;
    int unclipped = 0;
    bool drops = false;  // simulated: drops after sharing its keys
  };
  struct Outcome {
    bool failed = false;
    std::string reason;
    int64_t aggregated = 0;  // U3: masked inputs summed
    int64_t dropped = 0;     // U2 \ U3: dropped after sharing keys
    int64_t clamped = 0;     // this worker's values clamped to the range
    std::vector<int64_t> survivors;  // U3, ascending
  };

  // `threads`: clients masked at a time.
  SecureClients(PsClient* ps, SecureOptions options, int threads);

  // The four phases of round `round` for this worker's `inputs` (possibly
  // none: it still takes its part in every barrier). `weight_bound`: the
  // sum of the round's clients' weights, the same in every worker. A
  // failed round is an Outcome, not an error; errors are the PsClient's
  // (after its retries), a shard's refusal, or shards that disagree. A
  // round a shard starts over (ABORTED: a worker was replaced) is begun
  // again with fresh keys, up to 5 times.
  absl::StatusOr<Outcome> Run(int64_t round, double weight_bound,
                              absl::Span<const Input> inputs,
                              PsClient::Transfer* transfer);

 private:
  // One go at the round's four phases.
  absl::StatusOr<Outcome> RunOnce(int64_t round, double weight_bound,
                                  absl::Span<const Input> inputs,
                                  PsClient::Transfer* transfer);

  PsClient* const ps_;
  const SecureOptions options_;
  const int threads_;
};

}  // namespace descent

#endif  // DESCENT_WORKER_SECURE_CLIENT_H_
