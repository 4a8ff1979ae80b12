// CoordinatorClient: how servers, workers and the launcher talk to the
// job's coordinator. Every call has a deadline (`rpc_timeout`).
// Registration is retried while the coordinator is unreachable, up to
// `patience`, since in a cluster the coordinator may start after its peers.
// Thread-safe (gRPC stubs are).
#ifndef DESCENT_COMMON_COORDINATOR_CLIENT_H_
#define DESCENT_COMMON_COORDINATOR_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "descent/v1/coordinator.grpc.pb.h"

namespace descent {

class CoordinatorClient {
 public:
  explicit CoordinatorClient(const std::string& address,
                             absl::Duration rpc_timeout = absl::Seconds(5));

  const std::string& address() const { return address_; }

  absl::StatusOr<v1::RegisterServerResponse> RegisterServer(
      const v1::RegisterServerRequest& request, absl::Duration patience);
  absl::StatusOr<v1::RegisterWorkerResponse> RegisterWorker(
      const v1::RegisterWorkerRequest& request, absl::Duration patience);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request);
  absl::StatusOr<v1::JobStatus> GetJobStatus();

  // Polls the job status until the job is RUNNING (returns that status),
  // has ended (FAILED_PRECONDITION with the job's error), or `patience`
  // passes (DEADLINE_EXCEEDED).
  absl::StatusOr<v1::JobStatus> WaitUntilRunning(absl::Duration patience);

 private:
  const std::string address_;
  const absl::Duration rpc_timeout_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

}  // namespace descent

#endif  // DESCENT_COMMON_COORDINATOR_CLIENT_H_
