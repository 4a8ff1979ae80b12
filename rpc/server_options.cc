#include "rpc/server_options.h"

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/support/server_interceptor.h"

namespace descent {
namespace {

using Rejected = std::function<void(const char*)>;

// A request that does not parse reaches no handler: gRPC's generated
// callback handler answers UNIMPLEMENTED with no message and no message
// was received (POST_RECV_MESSAGE saw none). That answer becomes
// INVALID_ARGUMENT naming the method, and is counted.
class MalformedRequests : public grpc::experimental::Interceptor {
 public:
  MalformedRequests(std::string method, const Rejected* rejected)
      : method_(std::move(method)), rejected_(rejected) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      parsed_ = true;
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (!parsed_ && status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        (*rejected_)("malformed");
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         absl::StrCat("the request of ", method_,
                                      " does not parse as its message")));
      }
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  const Rejected* const rejected_;
  bool parsed_ = false;
};

class MalformedRequestsFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MalformedRequestsFactory(std::shared_ptr<const Rejected> rejected)
      : rejected_(std::move(rejected)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Only unary methods of descent's own services; the generic service
    // below answers unknown methods.
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY ||
        !absl::StartsWith(info->method(), "/descent.")) {
      return nullptr;
    }
    return new MalformedRequests(info->method(), rejected_.get());
  }

 private:
  const std::shared_ptr<const Rejected> rejected_;
};

// Every method no registered service serves: counted, then UNIMPLEMENTED.
class UnknownMethods : public grpc::CallbackGenericService {
 public:
  explicit UnknownMethods(std::shared_ptr<const Rejected> rejected)
      : rejected_(std::move(rejected)) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(const std::string& method) {
        Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                            absl::StrCat("unknown method ", method)));
      }
      void OnDone() override { delete this; }
    };
    (*rejected_)("unknown_method");
    return new Reactor(context->method());
  }

 private:
  const std::shared_ptr<const Rejected> rejected_;
};

}  // namespace

void ApplyServerOptions(const RpcServerOptions& options,
                        grpc::ServerBuilder* builder,
                        std::shared_ptr<void>* keep) {
  builder->SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder->SetMaxSendMessageSize(options.max_send_message_bytes);
  if (options.memory_quota_bytes > 0) {
    grpc::ResourceQuota quota("descent-server");
    quota.Resize(options.memory_quota_bytes);
    builder->SetResourceQuota(quota);
  }
  if (options.max_concurrent_streams > 0) {
    builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                                options.max_concurrent_streams);
  }
  if (!options.on_rejected) return;
  auto rejected = std::make_shared<const Rejected>(options.on_rejected);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      factories;
  factories.push_back(std::make_unique<MalformedRequestsFactory>(rejected));
  builder->experimental().SetInterceptorCreators(std::move(factories));
  auto unknown = std::make_shared<UnknownMethods>(rejected);
  builder->RegisterCallbackGenericService(unknown.get());
  *keep = unknown;
}

}  // namespace descent
