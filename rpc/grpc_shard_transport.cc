#include "rpc/grpc_shard_transport.h"

#include <utility>

#include "rpc/rpc.h"

namespace descent {
namespace {

// A call's context lives until its callback has run.
grpc::ClientContext* NewContext(absl::Duration deadline) {
  auto* context = new grpc::ClientContext;
  SetDeadline(context, deadline);
  return context;
}

std::function<void(grpc::Status)> Finish(grpc::ClientContext* context,
                                         ShardTransport::Done done) {
  return [context, done = std::move(done)](grpc::Status status) {
    delete context;
    done(FromGrpcStatus(status));
  };
}

}  // namespace

GrpcShardTransport::GrpcShardTransport(const std::string& address,
                                       const RpcSecurity& security)
    : stub_(v1::ParameterServer::NewStub(MakeChannel(address, security))) {}

ShardTransportFactory GrpcShardTransport::Factory(RpcSecurity security) {
  return [security = std::move(security)](const v1::ShardInfo& shard)
             -> absl::StatusOr<std::unique_ptr<ShardTransport>> {
    return std::make_unique<GrpcShardTransport>(shard.address(), security);
  };
}

void GrpcShardTransport::Pull(const v1::PullRequest& request,
                              v1::PullResponse* response,
                              absl::Duration deadline, Done done) {
  grpc::ClientContext* context = NewContext(deadline);
  stub_->async()->Pull(context, &request, response,
                       Finish(context, std::move(done)));
}

void GrpcShardTransport::PushPull(const v1::PushRequest& request,
                                  v1::PushPullResponse* response,
                                  absl::Duration deadline, Done done) {
  grpc::ClientContext* context = NewContext(deadline);
  stub_->async()->PushPull(context, &request, response,
                           Finish(context, std::move(done)));
}

}  // namespace descent
