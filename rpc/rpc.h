// gRPC plumbing shared by every role: status conversion at the edge,
// channels and servers with deliberate limits, and the loopback-only policy.
//
// The core (ParameterShard, Coordinator, Trainer) speaks absl::Status; only
// the adapters call ToGrpcStatus / FromGrpcStatus. All functions here are
// thread-safe.
#ifndef DESCENT_RPC_RPC_H_
#define DESCENT_RPC_RPC_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "rpc/security.h"
#include "rpc/server_options.h"

namespace descent {

// Largest parameter-server message either side accepts: dense slices
// travel whole for now, so this bounds a shard's slice at 64M floats.
inline constexpr int kMaxMessageBytes = 256 << 20;
// Largest coordinator message (registrations, heartbeats, the job's state
// with its evaluation history): small messages.
inline constexpr int kCoordinatorMessageBytes = 16 << 20;
// gRPC memory (grpc::ResourceQuota) a parameter server may spend on
// requests in flight: two of the largest messages. The server starts
// before it knows its slice, so the bound is the message limit's, not the
// slice's; past it gRPC stops reading until memory is freed.
inline constexpr size_t kServerMemoryQuotaBytes = size_t{2} * kMaxMessageBytes;

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// True for 127.0.0.0/8, localhost and [::1] addresses ("host:port").
bool IsLoopbackAddress(const std::string& address);

// A channel to `address` with `security`'s credentials and token
// (security.h), keepalive (a dead peer is noticed within seconds, not at
// TCP timeout), sending and receiving messages of up to
// `max_message_bytes` (the server's limit: kMaxMessageBytes for parameter
// servers, kCoordinatorMessageBytes for the coordinator).
std::shared_ptr<grpc::Channel> MakeChannel(
    const std::string& address, const RpcSecurity& security,
    int max_message_bytes = kMaxMessageBytes);

// Sets `context`'s deadline `timeout` from now.
void SetDeadline(grpc::ClientContext* context, absl::Duration timeout);

// A started gRPC server and the address it actually listens on.
struct RunningServer {
  std::shared_ptr<void> keep;  // what the server uses; outlives it
  std::unique_ptr<grpc::Server> server;
  std::string address;  // host:port with the port resolved
};

// Starts a gRPC server on `listen` ("host:port"; port 0 picks a free one)
// serving `services` plus grpc.health.v1 and reflection, with the limits
// of `options` (server_options.h), over TLS if `security` has a
// certificate. A non-loopback address without TLS is refused
// (FAILED_PRECONDITION) unless security.insecure. Returns UNAVAILABLE if
// the address cannot be bound.
absl::StatusOr<RunningServer> StartRpcServer(
    const std::string& listen, const std::vector<grpc::Service*>& services,
    const RpcSecurity& security, const RpcServerOptions& options = {});

// Sets what grpc.health.v1 of `server` reports for "" (the whole server)
// and for each of `services` (full names, "descent.v1.ParameterServer"):
// SERVING or NOT_SERVING.
void SetServing(grpc::Server* server, bool serving,
                const std::vector<std::string>& services = {});

}  // namespace descent

#endif  // DESCENT_RPC_RPC_H_
