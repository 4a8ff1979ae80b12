// InProcessShardTransport: the ShardTransport (common/transport.h) that
// calls a ParameterShard in the same process, for tests and single-process
// tools. Requests go to the shard as they are (no serialization), and
// `done` runs on whichever thread the shard answers from: the caller's for
// an open gate, another pusher's when a held BSP/SSP answer is released.
// The deadline is not enforced: a held answer waits for its gate (or for
// ParameterShard::Close), as a gRPC call would until its deadline.
// Thread-safe; the shard must outlive the transport.
#ifndef DESCENT_SERVER_SHARD_IN_PROCESS_TRANSPORT_H_
#define DESCENT_SERVER_SHARD_IN_PROCESS_TRANSPORT_H_

#include <vector>

#include "common/transport.h"
#include "server/shard/parameter_shard.h"

namespace descent {

class InProcessShardTransport final : public ShardTransport {
 public:
  explicit InProcessShardTransport(ParameterShard* shard) : shard_(shard) {}

  // A factory that connects shard map entry i to shards[i] (by its index
  // in the map, ShardInfo::shard). The shards must outlive every client.
  static ShardTransportFactory Factory(std::vector<ParameterShard*> shards);

  void Pull(const v1::PullRequest& request, v1::PullResponse* response,
            absl::Duration deadline, Done done) override;
  void PushPull(const v1::PushRequest& request, v1::PushPullResponse* response,
                absl::Duration deadline, Done done) override;
  void SecureAggregation(const v1::SecureAggregationRequest& request,
                         v1::SecureAggregationResponse* response,
                         absl::Duration deadline, Done done) override;

 private:
  ParameterShard* const shard_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_SHARD_IN_PROCESS_TRANSPORT_H_
