#include "rpc/parameter_server_service.h"

#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rpc/aliased_bytes.h"
#include "rpc/rpc.h"
#include "server/shard/shard_checkpoint.h"

namespace descent {

namespace {

constexpr char kPullMethod[] = "/descent.v1.ParameterServer/Pull";
constexpr char kPushPullMethod[] = "/descent.v1.ParameterServer/PushPull";

// A Pull's or PushPull's request and answer: alive until the call has been
// answered and gRPC has released the answer's aliased bytes.
template <typename Request, typename Response>
class RawCall final : public AliasedBytesOwner {
 public:
  Request request;
  Response response;

 private:
  ~RawCall() override = default;
  void OnReleased() override { delete this; }
};

// Finishes a raw call: its answer serialized into `response` (aliased)
// when OK. Drops the ref the call was served with.
template <typename Request, typename Response>
void AnswerRaw(RawCall<Request, Response>* call, grpc::Status status,
               grpc::ServerUnaryReactor* reactor, grpc::ByteBuffer* response) {
  if (status.ok() && !call->SerializeAliased(call->response, response)) {
    status =
        grpc::Status(grpc::StatusCode::INTERNAL, "the answer is over 2 GiB");
  }
  reactor->Finish(status);
  call->Unref();
}

// Refusals for what the call carries or who sends it: a client that gets
// one and sends the same again is refused again, so it may wait.
bool HeldInTarpit(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return true;
    default:
      return false;
  }
}

}  // namespace

void ParameterServerService::Attach(ParameterShard* shard, int index,
                                    std::string checkpoint_root) {
  index_ = index;
  checkpoint_root_ = std::move(checkpoint_root);
  shard_.store(shard);
  if (grpc::Server* server = health_.load())
    SetServing(server, true, {v1::ParameterServer::service_full_name()});
}

RpcServerOptions ParameterServerService::ServerOptions() const {
  RpcServerOptions options;
  options.max_receive_message_bytes = kMaxMessageBytes;
  options.max_send_message_bytes = kMaxMessageBytes;
  options.memory_quota_bytes = kServerMemoryQuotaBytes;
  options.serving_at_start = false;
  ServerMetrics* metrics = metrics_;
  options.on_rejected = [metrics](const char* reason) {
    metrics->rejected.Add({{"reason", reason}}).Increment();
  };
  return options;
}

void ParameterServerService::ReportHealth(grpc::Server* server) {
  health_.store(server);
  SetServing(server, shard_.load() != nullptr,
             {v1::ParameterServer::service_full_name()});
}

void ParameterServerService::Close() {
  if (grpc::Server* server = health_.load())
    SetServing(server, false, {v1::ParameterServer::service_full_name()});
  tarpit_.Close();
  if (ParameterShard* shard = shard_.load()) shard->Close();
}

void ParameterServerService::FinishRefused(
    const Finish& finish, const grpc::Status& refused,
    const google::protobuf::MessageLite& request) {
  if (HeldInTarpit(refused.error_code()) &&
      tarpit_.Hold(static_cast<int64_t>(request.ByteSizeLong()),
                   [finish, refused] { finish(refused); })) {
    return;
  }
  finish(refused);
}

ParameterShard* ParameterServerService::ShardOrRefuse(
    const grpc::Status& allowed, const google::protobuf::MessageLite& request,
    const Finish& finish) {
  if (!allowed.ok()) {
    metrics_->rejected.Add({{"reason", "unauthenticated"}}).Increment();
    FinishRefused(finish, allowed, request);
    return nullptr;
  }
  ParameterShard* shard = shard_.load();
  if (shard == nullptr) {
    metrics_->rejected.Add({{"reason", "not_registered"}}).Increment();
    finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "shard not registered with its job yet"));
  }
  return shard;
}

ParameterServerService::Finish ParameterServerService::FinishOf(
    grpc::ServerUnaryReactor* reactor) {
  return [reactor](const grpc::Status& status) { reactor->Finish(status); };
}

bool ParameterServerService::AcceptsToken(absl::string_view token) const {
  return guard_.Accepts(token);
}

void ParameterServerService::CountRejected(const char* reason) {
  metrics_->rejected.Add({{"reason", reason}}).Increment();
}

void ParameterServerService::ServePull(const grpc::Status& allowed,
                                       const v1::PullRequest& request,
                                       v1::PullResponse* response,
                                       Finish finish) {
  const absl::Time start = absl::Now();
  ParameterShard* shard = ShardOrRefuse(allowed, request, finish);
  if (shard == nullptr) return;
  absl::Status status = shard->Pull(request, response);
  if (status.ok()) {
    metrics_->pulls.Increment();
    metrics_->pull_bytes.Increment(response->params().values().size() +
                                   response->rows().values().size());
    metrics_->pull_duration.Observe(absl::ToDoubleSeconds(absl::Now() - start));
    finish(grpc::Status::OK);
  } else {
    metrics_->rejected.Add({{"reason", RejectReason(status)}}).Increment();
    FinishRefused(finish, ToGrpcStatus(status), request);
  }
}

void ParameterServerService::ServePushPull(const grpc::Status& allowed,
                                           const v1::PushRequest& request,
                                           v1::PushPullResponse* response,
                                           Finish finish) {
  const absl::Time start = absl::Now();
  ParameterShard* shard = ShardOrRefuse(allowed, request, finish);
  if (shard == nullptr) return;
  const v1::PushRequest* pushed = &request;  // not copied into the callback
  shard->PushPull(request, response,
                  [=, finish = std::move(finish)](absl::Status status) {
                    FinishPush(shard, finish, status, *pushed,
                               response->params().values().size() +
                                   response->rows().values().size(),
                               response->version(), start);
                  });
}

grpc::ServerUnaryReactor* ParameterServerService::Pull(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto* call = new RawCall<v1::PullRequest, v1::PullResponse>;
  if (ParseOrRefuse(request, kPullMethod, &call->request, reactor)) {
    call->Ref();
    ServePull(guard_.Check(*context), call->request, &call->response,
              [call, reactor, response](const grpc::Status& status) {
                AnswerRaw(call, status, reactor, response);
              });
  }
  call->Unref();
  return reactor;
}

grpc::ServerUnaryReactor* ParameterServerService::Push(
    grpc::CallbackServerContext* context, const v1::PushRequest* request,
    v1::PushResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const Finish finish = FinishOf(reactor);
  ParameterShard* shard =
      ShardOrRefuse(guard_.Check(*context), *request, finish);
  if (shard == nullptr) return reactor;
  shard->Push(*request, response, [=](absl::Status status) {
    FinishPush(shard, finish, status, *request, 0, response->version(), start);
  });
  return reactor;
}

grpc::ServerUnaryReactor* ParameterServerService::PushPull(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto* call = new RawCall<v1::PushRequest, v1::PushPullResponse>;
  if (ParseOrRefuse(request, kPushPullMethod, &call->request, reactor)) {
    call->Ref();
    ServePushPull(guard_.Check(*context), call->request, &call->response,
                  [call, reactor, response](const grpc::Status& status) {
                    AnswerRaw(call, status, reactor, response);
                  });
  }
  call->Unref();
  return reactor;
}

grpc::ServerUnaryReactor* ParameterServerService::SecureAggregation(
    grpc::CallbackServerContext* context,
    const v1::SecureAggregationRequest* request,
    v1::SecureAggregationResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const Finish finish = FinishOf(reactor);
  ParameterShard* shard =
      ShardOrRefuse(guard_.Check(*context), *request, finish);
  if (shard == nullptr) return reactor;
  shard->SecureAggregation(
      *request, response, [this, finish, request](absl::Status status) {
        if (status.ok()) {
          finish(grpc::Status::OK);
          return;
        }
        metrics_->rejected.Add({{"reason", RejectReason(status)}}).Increment();
        FinishRefused(finish, ToGrpcStatus(status), *request);
      });
  return reactor;
}

bool ParameterServerService::ParseOrRefuse(
    const grpc::ByteBuffer* bytes, const char* method,
    google::protobuf::MessageLite* request, grpc::ServerUnaryReactor* reactor) {
  // gRPC's reader only reads the buffer.
  if (ParseByteBuffer(const_cast<grpc::ByteBuffer*>(bytes), request)) {
    return true;
  }
  metrics_->rejected.Add({{"reason", "malformed"}}).Increment();
  reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               absl::StrCat("the request of ", method,
                                            " does not parse as its message")));
  return false;
}

void ParameterServerService::FinishPush(const ParameterShard* shard,
                                        const Finish& finish,
                                        const absl::Status& status,
                                        const v1::PushRequest& request,
                                        int64_t pulled_bytes, int64_t version,
                                        absl::Time start) {
  if (status.ok()) {
    metrics_->pushes.Increment();
    metrics_->push_bytes.Increment(request.gradient().values().size() +
                                   request.gradient().indices().size() +
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
    finish(grpc::Status::OK);
  } else {
    metrics_->rejected.Add({{"reason", RejectReason(status)}}).Increment();
    FinishRefused(finish, ToGrpcStatus(status), request);
  }
}

namespace {

// "step-" and 1 to 19 digits.
bool IsCheckpointDirectory(const std::string& name) {
  if (!absl::StartsWith(name, "step-") || name.size() == 5 ||
      name.size() > 24) {
    return false;
  }
  for (size_t i = 5; i < name.size(); ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(name[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

ParameterServerService::~ParameterServerService() {
  std::vector<std::thread> writers;
  {
    absl::MutexLock lock(&writers_mu_);
    writers.swap(writers_);
  }
  for (std::thread& writer : writers) writer.join();
}

grpc::ServerUnaryReactor* ParameterServerService::Checkpoint(
    grpc::CallbackServerContext* context, const v1::CheckpointRequest* request,
    v1::CheckpointResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ParameterShard* shard =
      ShardOrRefuse(guard_.Check(*context), *request, FinishOf(reactor));
  if (shard == nullptr) return reactor;
  absl::Status refused = shard->ValidateCheckpoint(*request);
  if (refused.ok() && checkpoint_root_.empty()) {
    refused = absl::FailedPreconditionError("this job takes no checkpoints");
  }
  if (refused.ok() && !IsCheckpointDirectory(request->directory())) {
    refused = absl::InvalidArgumentError(
        absl::StrCat("checkpoint directory \"", request->directory(),
                     "\" is not \"step-\" and digits"));
  }
  if (!refused.ok()) {
    metrics_->rejected.Add({{"reason", RejectReason(refused)}}).Increment();
    FinishRefused(FinishOf(reactor), ToGrpcStatus(refused), *request);
    return reactor;
  }
  const std::string path =
      absl::StrCat(checkpoint_root_, "/", request->directory(), "/shard-",
                   index_, ".safetensors");
  const absl::Time start = absl::Now();
  // Capture reports a missed version before it returns.
  auto version_now = std::make_shared<int64_t>(0);
  shard->Capture(
      request->at_version(),
      [this, reactor, response, path, start,
       version_now](absl::StatusOr<ShardState> state) {
        if (!state.ok()) {
          if (absl::IsFailedPrecondition(state.status()) &&
              absl::StrContains(state.status().message(), "past")) {
            response->set_missed(true);
            response->set_version(*version_now);
            reactor->Finish(grpc::Status::OK);
          } else {
            reactor->Finish(ToGrpcStatus(state.status()));
          }
          return;
        }
        const double capture_seconds =
            absl::ToDoubleSeconds(absl::Now() - start);
        auto write = [reactor, response, path, capture_seconds,
                      state = *std::move(state)]() {
          const absl::Time begin = absl::Now();
          absl::StatusOr<FileDigest> digest = WriteShardCheckpoint(path, state);
          if (!digest.ok()) {
            reactor->Finish(ToGrpcStatus(digest.status()));
            return;
          }
          response->set_version(state.version);
          for (const int64_t steps : state.worker_steps) {
            response->add_worker_steps(steps);
          }
          response->set_bytes(digest->bytes);
          response->set_crc32(digest->crc32);
          response->set_capture_seconds(capture_seconds);
          response->set_write_seconds(
              absl::ToDoubleSeconds(absl::Now() - begin));
          reactor->Finish(grpc::Status::OK);
        };
        // The coordinator asks for one checkpoint at a time: the previous
        // writers have finished, or are about to.
        absl::MutexLock lock(&writers_mu_);
        for (std::thread& writer : writers_) writer.join();
        writers_.clear();
        writers_.emplace_back(std::move(write));
      },
      version_now.get());
  return reactor;
}

}  // namespace descent
