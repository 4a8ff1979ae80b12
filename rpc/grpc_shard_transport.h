// GrpcShardTransport: the ShardTransport (common/transport.h) to one shard
// over gRPC's callback API, on a channel with descent's message limits and
// keepalive (rpc/rpc.h). Each call gets its own ClientContext with the
// given deadline; `done` runs on a gRPC thread. Thread-safe.
//
// Calls go through gRPC's generic stub so that a request's gradient bytes
// are sent from the request itself, not from a copy (rpc/aliased_bytes.h):
// `done` runs once the call has ended and gRPC has released the request's
// bytes, which is what the transport contract already asks of the caller.
#ifndef DESCENT_RPC_GRPC_SHARD_TRANSPORT_H_
#define DESCENT_RPC_GRPC_SHARD_TRANSPORT_H_

#include <memory>
#include <string>

#include "common/transport.h"
#include "grpcpp/generic/generic_stub.h"
#include "rpc/security.h"

namespace descent {

class GrpcShardTransport final : public ShardTransport {
 public:
  GrpcShardTransport(const std::string& address, const RpcSecurity& security);

  // A ShardTransportFactory that dials each shard at its address with
  // `security` (rpc/security.h).
  static ShardTransportFactory Factory(RpcSecurity security);

  void Pull(const v1::PullRequest& request, v1::PullResponse* response,
            absl::Duration deadline, Done done) override;
  void PushPull(const v1::PushRequest& request, v1::PushPullResponse* response,
                absl::Duration deadline, Done done) override;
  void SecureAggregation(const v1::SecureAggregationRequest& request,
                         v1::SecureAggregationResponse* response,
                         absl::Duration deadline, Done done) override;

 private:
  grpc::GenericStub stub_;
};

}  // namespace descent

#endif  // DESCENT_RPC_GRPC_SHARD_TRANSPORT_H_
