#include "rpc/coordinator_service.h"

#include <utility>

#include "rpc/rpc.h"

namespace descent {
namespace {

// Finishes the call UNAUTHENTICATED and returns its reactor, counted, if
// it lacks the job's token; else null.
grpc::ServerUnaryReactor* Unauthenticated(grpc::CallbackServerContext* context,
                                          const TokenGuard& guard,
                                          CoordinatorMetrics* metrics) {
  grpc::Status allowed = guard.Check(*context);
  if (allowed.ok()) return nullptr;
  metrics->rejected.Add({{"reason", "unauthenticated"}}).Increment();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(allowed);
  return reactor;
}

// Moves a StatusOr's value into `response` and finishes the call.
template <typename Response>
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                 absl::StatusOr<Response> result,
                                 Response* response) {
  if (result.ok()) *response = *std::move(result);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* CoordinatorService::RegisterServer(
    grpc::CallbackServerContext* context,
    const v1::RegisterServerRequest* request,
    v1::RegisterServerResponse* response) {
  if (auto* refused = Unauthenticated(context, guard_, metrics_)) {
    return refused;
  }
  auto result = coordinator_->RegisterServer(*request);
  if (result.ok()) metrics_->registrations.Increment();
  return Answer(context, std::move(result), response);
}

grpc::ServerUnaryReactor* CoordinatorService::RegisterWorker(
    grpc::CallbackServerContext* context,
    const v1::RegisterWorkerRequest* request,
    v1::RegisterWorkerResponse* response) {
  if (auto* refused = Unauthenticated(context, guard_, metrics_)) {
    return refused;
  }
  auto result = coordinator_->RegisterWorker(*request);
  if (result.ok()) metrics_->registrations.Increment();
  return Answer(context, std::move(result), response);
}

grpc::ServerUnaryReactor* CoordinatorService::Heartbeat(
    grpc::CallbackServerContext* context, const v1::HeartbeatRequest* request,
    v1::HeartbeatResponse* response) {
  if (auto* refused = Unauthenticated(context, guard_, metrics_)) {
    return refused;
  }
  return Answer(context, coordinator_->Heartbeat(*request), response);
}

grpc::ServerUnaryReactor* CoordinatorService::GetJobStatus(
    grpc::CallbackServerContext* context,
    const v1::GetJobStatusRequest* /*request*/, v1::JobStatus* response) {
  if (auto* refused = Unauthenticated(context, guard_, metrics_)) {
    return refused;
  }
  return Answer(context, absl::StatusOr<v1::JobStatus>(coordinator_->Status()),
                response);
}

}  // namespace descent
