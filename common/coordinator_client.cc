#include "common/coordinator_client.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rpc.h"

namespace descent {
namespace {

// Calls `call` until it succeeds, fails with something other than
// UNAVAILABLE, or `patience` has passed.
template <typename Call>
grpc::Status RetryWhileUnavailable(absl::Duration patience, Call call) {
  const absl::Time give_up = absl::Now() + patience;
  absl::Duration backoff = absl::Milliseconds(20);
  while (true) {
    grpc::Status status = call();
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        absl::Now() + backoff > give_up) {
      return status;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::Status WithAddress(const grpc::Status& status,
                         const std::string& address) {
  absl::Status converted = FromGrpcStatus(status);
  if (converted.ok()) return converted;
  return absl::Status(
      converted.code(),
      absl::StrCat("coordinator at ", address, ": ", converted.message()));
}

}  // namespace

CoordinatorClient::CoordinatorClient(const std::string& address,
                                     absl::Duration rpc_timeout)
    : address_(address),
      rpc_timeout_(rpc_timeout),
      stub_(v1::Coordinator::NewStub(MakeChannel(address))) {}

absl::StatusOr<v1::RegisterServerResponse> CoordinatorClient::RegisterServer(
    const v1::RegisterServerRequest& request, absl::Duration patience) {
  v1::RegisterServerResponse response;
  grpc::Status status = RetryWhileUnavailable(patience, [&] {
    grpc::ClientContext context;
    SetDeadline(&context, rpc_timeout_);
    return stub_->RegisterServer(&context, request, &response);
  });
  if (!status.ok()) return WithAddress(status, address_);
  return response;
}

absl::StatusOr<v1::RegisterWorkerResponse> CoordinatorClient::RegisterWorker(
    const v1::RegisterWorkerRequest& request, absl::Duration patience) {
  v1::RegisterWorkerResponse response;
  grpc::Status status = RetryWhileUnavailable(patience, [&] {
    grpc::ClientContext context;
    SetDeadline(&context, rpc_timeout_);
    return stub_->RegisterWorker(&context, request, &response);
  });
  if (!status.ok()) return WithAddress(status, address_);
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> CoordinatorClient::Heartbeat(
    const v1::HeartbeatRequest& request) {
  v1::HeartbeatResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, rpc_timeout_);
  grpc::Status status = stub_->Heartbeat(&context, request, &response);
  if (!status.ok()) return WithAddress(status, address_);
  return response;
}

absl::StatusOr<v1::JobStatus> CoordinatorClient::GetJobStatus() {
  v1::JobStatus response;
  grpc::ClientContext context;
  SetDeadline(&context, rpc_timeout_);
  grpc::Status status =
      stub_->GetJobStatus(&context, v1::GetJobStatusRequest(), &response);
  if (!status.ok()) return WithAddress(status, address_);
  return response;
}

absl::StatusOr<v1::JobStatus> CoordinatorClient::WaitUntilRunning(
    absl::Duration patience) {
  const absl::Time give_up = absl::Now() + patience;
  while (true) {
    absl::StatusOr<v1::JobStatus> status = GetJobStatus();
    if (!status.ok()) return status.status();
    if (status->state() == v1::RUNNING) return status;
    if (status->state() == v1::SUCCEEDED || status->state() == v1::FAILED) {
      return absl::FailedPreconditionError(
          absl::StrCat("the job ended before it started: ", status->error()));
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the job did not start within ", absl::FormatDuration(patience)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace descent
