#include "rpc/grpc_shard_transport.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rpc/aliased_bytes.h"
#include "rpc/rpc.h"

namespace descent {
namespace {

constexpr char kPullMethod[] = "/descent.v1.ParameterServer/Pull";
constexpr char kPushPullMethod[] = "/descent.v1.ParameterServer/PushPull";
constexpr char kSecureAggregationMethod[] =
    "/descent.v1.ParameterServer/SecureAggregation";

// One call in flight. It ends (runs `done`, deletes itself) when gRPC has
// finished the call and released every slice of the request it was given.
class Call final : public AliasedBytesOwner {
 public:
  Call(google::protobuf::MessageLite* response, ShardTransport::Done done)
      : response_(response), done_(std::move(done)) {}

  void Start(grpc::GenericStub* stub, const char* method,
             const google::protobuf::MessageLite& request,
             absl::Duration deadline) {
    if (!SerializeAliased(request, &request_)) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(method, ": the request is over 2 GiB"));
      Unref();
      return;
    }
    context_ = std::make_unique<grpc::ClientContext>();
    SetDeadline(context_.get(), deadline);
    stub->UnaryCall(context_.get(), method, grpc::StubOptions(), &request_,
                    &response_bytes_,
                    [this](grpc::Status status) { Finished(status); });
  }

 private:
  void Finished(const grpc::Status& status) {
    status_ = FromGrpcStatus(status);
    if (status_.ok() && !ParseByteBuffer(&response_bytes_, response_)) {
      status_ = absl::InternalError("the shard's answer does not parse");
    }
    context_.reset();
    request_.Clear();
    response_bytes_.Clear();
    Unref();
  }

  void OnReleased() override {
    done_(std::move(status_));
    delete this;
  }

  google::protobuf::MessageLite* const response_;
  const ShardTransport::Done done_;
  std::unique_ptr<grpc::ClientContext> context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_bytes_;
  absl::Status status_;
};

}  // namespace

GrpcShardTransport::GrpcShardTransport(const std::string& address,
                                       const RpcSecurity& security)
    : stub_(MakeChannel(address, security)) {}

ShardTransportFactory GrpcShardTransport::Factory(RpcSecurity security) {
  return [security = std::move(security)](const v1::ShardInfo& shard)
             -> absl::StatusOr<std::unique_ptr<ShardTransport>> {
    return std::make_unique<GrpcShardTransport>(shard.address(), security);
  };
}

void GrpcShardTransport::Pull(const v1::PullRequest& request,
                              v1::PullResponse* response,
                              absl::Duration deadline, Done done) {
  (new Call(response, std::move(done)))
      ->Start(&stub_, kPullMethod, request, deadline);
}

void GrpcShardTransport::PushPull(const v1::PushRequest& request,
                                  v1::PushPullResponse* response,
                                  absl::Duration deadline, Done done) {
  (new Call(response, std::move(done)))
      ->Start(&stub_, kPushPullMethod, request, deadline);
}

void GrpcShardTransport::SecureAggregation(
    const v1::SecureAggregationRequest& request,
    v1::SecureAggregationResponse* response, absl::Duration deadline,
    Done done) {
  (new Call(response, std::move(done)))
      ->Start(&stub_, kSecureAggregationMethod, request, deadline);
}

}  // namespace descent
