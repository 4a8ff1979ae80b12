// The seam between what a process computes and how its calls travel.
//
// A worker or the coordinator reaches each parameter-server shard through
// a ShardTransport and the coordinator through a CoordinatorClient. Each has
// a gRPC implementation (rpc/grpc_shard_transport.h,
// rpc/grpc_coordinator_client.h) and an in-process one that calls the
// object directly (server/shard/in_process_transport.h,
// server/coordinator/in_process_coordinator_client.h), so the worker, the
// evaluator and the consistency tests run in one process without sockets.
// FaultyShardTransport (common/faulty_transport.h) wraps any of them to
// drop, hold or fail calls, or lose an answer after it was applied.
//
// Nothing here includes gRPC: this header is what the core may call.
#ifndef DESCENT_COMMON_TRANSPORT_H_
#define DESCENT_COMMON_TRANSPORT_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "descent/v1/coordinator.pb.h"
#include "descent/v1/ps.pb.h"

namespace descent {

// One shard's ParameterServer calls. Both are asynchronous: they return at
// once and run `done` exactly once with the call's outcome, on any thread
// (possibly before returning). `request` and `response` must stay alive and
// untouched until `done` runs; `response` is meaningful only if the status
// is OK. A call that has not ended by `deadline` from its start ends with
// DEADLINE_EXCEEDED (the in-process transport answers in time by
// construction, or holds the answer at the consistency gate as gRPC would).
// UNAVAILABLE and DEADLINE_EXCEEDED mean the call may be retried with the
// same request id. Implementations are thread-safe.
class ShardTransport {
 public:
  using Done = std::function<void(absl::Status)>;

  virtual ~ShardTransport() = default;

  virtual void Pull(const v1::PullRequest& request, v1::PullResponse* response,
                    absl::Duration deadline, Done done) = 0;
  virtual void PushPull(const v1::PushRequest& request,
                        v1::PushPullResponse* response, absl::Duration deadline,
                        Done done) = 0;
  // Federated secure aggregation (ps.proto SecureAggregationRequest): held
  // by the shard until every worker has made the phase's call. By default
  // UNIMPLEMENTED.
  virtual void SecureAggregation(const v1::SecureAggregationRequest& request,
                                 v1::SecureAggregationResponse* response,
                                 absl::Duration deadline, Done done);
};

// Makes the transport to one shard of a shard map (by its address, or by
// its index for in-process shards).
using ShardTransportFactory =
    std::function<absl::StatusOr<std::unique_ptr<ShardTransport>>(
        const v1::ShardInfo& shard)>;

// How servers, workers and the launcher talk to the job's coordinator.
// The virtual calls make one attempt each, with the implementation's
// deadline; errors carry the coordinator's address or name. The
// non-virtual helpers add what every caller wants on top. Thread-safe.
class CoordinatorClient {
 public:
  virtual ~CoordinatorClient() = default;

  // The coordinator's address, for messages.
  virtual std::string address() const = 0;

  virtual absl::StatusOr<v1::RegisterServerResponse> TryRegisterServer(
      const v1::RegisterServerRequest& request) = 0;
  virtual absl::StatusOr<v1::RegisterWorkerResponse> TryRegisterWorker(
      const v1::RegisterWorkerRequest& request) = 0;
  virtual absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request) = 0;
  virtual absl::StatusOr<v1::JobStatus> GetJobStatus() = 0;

  // Registration, retried with backoff while the coordinator answers
  // UNAVAILABLE (in a cluster it may start after its peers), up to
  // `patience`; then its last error.
  absl::StatusOr<v1::RegisterServerResponse> RegisterServer(
      const v1::RegisterServerRequest& request, absl::Duration patience);
  absl::StatusOr<v1::RegisterWorkerResponse> RegisterWorker(
      const v1::RegisterWorkerRequest& request, absl::Duration patience);

  // Polls the job status until the job is RUNNING (returns that status),
  // has ended (FAILED_PRECONDITION with the job's error), or `patience`
  // passes (DEADLINE_EXCEEDED). A failed poll returns its error.
  absl::StatusOr<v1::JobStatus> WaitUntilRunning(absl::Duration patience);
};

}  // namespace descent

#endif  // DESCENT_COMMON_TRANSPORT_H_
