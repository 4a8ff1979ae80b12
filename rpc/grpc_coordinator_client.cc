#include "rpc/grpc_coordinator_client.h"

#include "absl/strings/str_cat.h"
#include "rpc/rpc.h"

namespace descent {

GrpcCoordinatorClient::GrpcCoordinatorClient(const std::string& address,
                                             const RpcSecurity& security,
                                             absl::Duration rpc_timeout)
    : address_(address),
      rpc_timeout_(rpc_timeout),
      stub_(v1::Coordinator::NewStub(
          MakeChannel(address, security, kCoordinatorMessageBytes))) {}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> GrpcCoordinatorClient::Call(Method method,
                                                     const Request& request) {
  Response response;
  grpc::ClientContext context;
  SetDeadline(&context, rpc_timeout_);
  absl::Status status =
      FromGrpcStatus((stub_.get()->*method)(&context, request, &response));
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("coordinator at ", address_,
                                                    ": ", status.message()));
  }
  return response;
}

absl::StatusOr<v1::RegisterServerResponse>
GrpcCoordinatorClient::TryRegisterServer(
    const v1::RegisterServerRequest& request) {
  return Call<v1::RegisterServerRequest, v1::RegisterServerResponse>(
      &v1::Coordinator::Stub::RegisterServer, request);
}

absl::StatusOr<v1::RegisterWorkerResponse>
GrpcCoordinatorClient::TryRegisterWorker(
    const v1::RegisterWorkerRequest& request) {
  return Call<v1::RegisterWorkerRequest, v1::RegisterWorkerResponse>(
      &v1::Coordinator::Stub::RegisterWorker, request);
}

absl::StatusOr<v1::HeartbeatResponse> GrpcCoordinatorClient::Heartbeat(
    const v1::HeartbeatRequest& request) {
  return Call<v1::HeartbeatRequest, v1::HeartbeatResponse>(
      &v1::Coordinator::Stub::Heartbeat, request);
}

absl::StatusOr<v1::JobStatus> GrpcCoordinatorClient::GetJobStatus() {
  return Call<v1::GetJobStatusRequest, v1::JobStatus>(
      &v1::Coordinator::Stub::GetJobStatus, v1::GetJobStatusRequest());
}

}  // namespace descent
