// GrpcCoordinatorClient: the CoordinatorClient (common/transport.h) over
// gRPC, for servers, workers and the launcher. Every call has a deadline
// (`rpc_timeout`); errors name the coordinator's address. Thread-safe
// (gRPC stubs are).
#ifndef DESCENT_RPC_GRPC_COORDINATOR_CLIENT_H_
#define DESCENT_RPC_GRPC_COORDINATOR_CLIENT_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/transport.h"
#include "descent/v1/coordinator.grpc.pb.h"
#include "rpc/security.h"

namespace descent {

class GrpcCoordinatorClient final : public CoordinatorClient {
 public:
  GrpcCoordinatorClient(const std::string& address, const RpcSecurity& security,
                        absl::Duration rpc_timeout = absl::Seconds(5));

  std::string address() const override { return address_; }

  absl::StatusOr<v1::RegisterServerResponse> TryRegisterServer(
      const v1::RegisterServerRequest& request) override;
  absl::StatusOr<v1::RegisterWorkerResponse> TryRegisterWorker(
      const v1::RegisterWorkerRequest& request) override;
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request) override;
  absl::StatusOr<v1::JobStatus> GetJobStatus() override;

 private:
  // Runs one unary call with the deadline and converts its status.
  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> Call(Method method, const Request& request);

  const std::string address_;
  const absl::Duration rpc_timeout_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

}  // namespace descent

#endif  // DESCENT_RPC_GRPC_COORDINATOR_CLIENT_H_
