#include "rpc/parameter_server_service.h"

#include "absl/time/clock.h"
#include "rpc/rpc.h"

namespace descent {

ParameterShard* ParameterServerService::ShardOrRefuse(
    grpc::ServerUnaryReactor* reactor) {
  ParameterShard* shard = shard_.load();
  if (shard == nullptr) {
    metrics_->rejected.Add({{"reason", "not_registered"}}).Increment();
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "shard not registered with its job yet"));
  }
  return shard;
}

grpc::ServerUnaryReactor* ParameterServerService::Pull(
    grpc::CallbackServerContext* context, const v1::PullRequest* request,
    v1::PullResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ParameterShard* shard = ShardOrRefuse(reactor);
  if (shard == nullptr) return reactor;
  absl::Status status = shard->Pull(*request, response);
  if (status.ok()) {
    metrics_->pulls.Increment();
    metrics_->pull_bytes.Increment(response->params().values().size() +
                                   response->rows().values().size());
    metrics_->pull_duration.Observe(absl::ToDoubleSeconds(absl::Now() - start));
  } else {
    metrics_->rejected.Add({{"reason", RejectReason(status)}}).Increment();
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* ParameterServerService::Push(
    grpc::CallbackServerContext* context, const v1::PushRequest* request,
    v1::PushResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ParameterShard* shard = ShardOrRefuse(reactor);
  if (shard == nullptr) return reactor;
  shard->Push(*request, response, [=](absl::Status status) {
    FinishPush(shard, reactor, status, *request, 0, response->version(), start);
  });
  return reactor;
}

grpc::ServerUnaryReactor* ParameterServerService::PushPull(
    grpc::CallbackServerContext* context, const v1::PushRequest* request,
    v1::PushPullResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ParameterShard* shard = ShardOrRefuse(reactor);
  if (shard == nullptr) return reactor;
  shard->PushPull(*request, response, [=](absl::Status status) {
    FinishPush(
        shard, reactor, status, *request,
        response->params().values().size() + response->rows().values().size(),
        response->version(), start);
  });
  return reactor;
}

void ParameterServerService::FinishPush(const ParameterShard* shard,
                                        grpc::ServerUnaryReactor* reactor,
                                        const absl::Status& status,
                                        const v1::PushRequest& request,
                                        int64_t pulled_bytes, int64_t version,
                                        absl::Time start) {
  if (status.ok()) {
    metrics_->pushes.Increment();
    metrics_->push_bytes.Increment(request.gradient().values().size() +
                                   request.row_gradients().values().size());
    if (!request.row_gradients().keys().empty()) {
      metrics_->sparse_rows.Set(shard->sparse_rows());
    }
    metrics_->push_duration.Observe(absl::ToDoubleSeconds(absl::Now() - start));
    metrics_->version.Set(version);
    if (pulled_bytes > 0) {
      metrics_->pulls.Increment();
      metrics_->pull_bytes.Increment(pulled_bytes);
    }
  } else {
    metrics_->rejected.Add({{"reason", RejectReason(status)}}).Increment();
  }
  reactor->Finish(ToGrpcStatus(status));
}

}  // namespace descent
