// What a parameter server answers to calls from outside that no handler
// should see, over real gRPC on 127.0.0.1: raw bytes that are no protobuf
// (a hand-written client, grpc::GenericStub), unknown methods, requests
// over the message limit; what its grpc.health.v1 says as its shard is
// attached and closed; and how late it answers calls it refuses (the
// tarpit: refused >= the delay, well-formed at once, no more held than its
// cap, none held past Close).
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/wire.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "rpc/parameter_server_service.h"
#include "rpc/rpc.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

using ::testing::HasSubstr;
using Health = grpc::health::v1::HealthCheckResponse;

class ServerGuardTest : public ::testing::Test {
 protected:
  void Start(int max_message_bytes = kMaxMessageBytes,
             RefusalTarpitOptions tarpit = {}) {
    registry_ = MetricsRegistry::Create({{"role", "server"}});
    metrics_ = std::make_unique<ServerMetrics>(*registry_);
    ParameterShardOptions options;
    options.job_id = "job";
    options.range = {0, 4};
    options.layout.Add({"w", {4}, InitRule::kZeros});
    options.optimizer.mutable_sgd()->set_learning_rate(1.0);
    shard_ = *ParameterShard::Create(std::move(options));
    service_ =
        std::make_unique<ParameterServerService>(metrics_.get(), "", tarpit);
    RpcServerOptions server_options = service_->ServerOptions();
    server_options.max_receive_message_bytes = max_message_bytes;
    auto running = StartRpcServer("127.0.0.1:0", {service_.get()},
                                  RpcSecurity(), server_options);
    ASSERT_TRUE(running.ok()) << running.status();
    server_ = *std::move(running);
    service_->ReportHealth(server_.server.get());
    channel_ = MakeChannel(server_.address, RpcSecurity());
  }

  // Sends `bytes` as the request of `method`, unparsed.
  grpc::Status RawCall(const std::string& method, const std::string& bytes) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::Status status;
    absl::Notification done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&](grpc::Status s) {
                     status = std::move(s);
                     done.Notify();
                   });
    done.WaitForNotification();
    return status;
  }

  Health::ServingStatus HealthStatus(const std::string& service = "") {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_TRUE(stub->Check(&context, request, &response).ok());
    return response.status();
  }

  // A PushPull of worker `worker` to the 4 parameters, sent at once; its
  // answer and when it came arrive later.
  struct Call {
    grpc::ClientContext context;
    v1::PushRequest request;
    v1::PushPullResponse response;
    grpc::Status status;
    absl::Time sent;
    absl::Duration took;
    absl::Notification done;
  };
  std::unique_ptr<Call> SendPushPull(int32_t worker) {
    auto call = std::make_unique<Call>();
    SetDeadline(&call->context, absl::Seconds(60));
    call->request.mutable_header()->set_job_id("job");
    call->request.mutable_header()->set_worker_id(worker);
    call->request.mutable_gradient()->set_values(std::string(16, '\0'));
    call->request.set_examples(1);
    call->sent = absl::Now();
    Call* c = call.get();
    v1::ParameterServer::NewStub(channel_)->async()->PushPull(
        &c->context, &c->request, &c->response, [c](grpc::Status status) {
          c->took = absl::Now() - c->sent;
          c->status = std::move(status);
          c->done.Notify();
        });
    return call;
  }
  grpc::Status PullAll() {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(60));
    v1::PullRequest request;
    request.mutable_header()->set_job_id("job");
    v1::PullResponse response;
    return v1::ParameterServer::NewStub(channel_)->Pull(&context, request,
                                                        &response);
  }
  // Waits until `n` calls have been refused for `reason` (counted just
  // before they are held).
  void AwaitRejected(const std::string& reason, double n) {
    while (Rejected(reason) < n) absl::SleepFor(absl::Milliseconds(5));
  }

  double Rejected(const std::string& reason) {
    return metrics_->rejected.Add({{"reason", reason}}).Value();
  }

  std::unique_ptr<MetricsRegistry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<ParameterShard> shard_;
  std::unique_ptr<ParameterServerService> service_;
  RunningServer server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServerGuardTest, GarbageForAKnownMethodIsInvalidArgumentAndCounted) {
  Start();
  service_->Attach(shard_.get());
  // Push goes through gRPC's generated handler, Pull and PushPull through
  // the service's own parsing of raw bytes: all refuse alike.
  const std::vector<std::string> methods = {
      "/descent.v1.ParameterServer/Push", "/descent.v1.ParameterServer/Pull",
      "/descent.v1.ParameterServer/PushPull"};
  for (size_t i = 0; i < methods.size(); ++i) {
    // A field-2 length-delimited tag whose length runs past the end.
    const grpc::Status status =
        RawCall(methods[i], std::string("\x12\x7f\x01"));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << methods[i] << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(methods[i]));
    EXPECT_EQ(Rejected("malformed"), i + 1) << methods[i];
  }
  EXPECT_EQ(shard_->version(), 0);
}

TEST_F(ServerGuardTest, UnknownMethodsAreUnimplementedAndCounted) {
  Start();
  const grpc::Status status =
      RawCall("/descent.v1.ParameterServer/Nope", "garbage");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Rejected("unknown_method"), 1);
  EXPECT_EQ(RawCall("/other.Service/Method", "").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Rejected("unknown_method"), 2);
}

TEST_F(ServerGuardTest, RequestsOverTheLimitAreRefusedBeforeAnyHandler) {
  Start(/*max_message_bytes=*/1 << 20);
  service_->Attach(shard_.get());
  v1::PushRequest push;
  push.mutable_header()->set_job_id("job");
  push.mutable_gradient()->set_values(std::string(2 << 20, '\0'));
  std::string bytes;
  push.SerializeToString(&bytes);
  const grpc::Status status =
      RawCall("/descent.v1.ParameterServer/Push", bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_EQ(shard_->version(), 0);
  EXPECT_EQ(metrics_->pushes.Value(), 0);
}

TEST_F(ServerGuardTest, HealthIsServingOnlyWhileTheShardTakesWork) {
  Start();
  // Before Attach every call is UNAVAILABLE: health says so.
  EXPECT_EQ(HealthStatus(), Health::NOT_SERVING);
  EXPECT_EQ(HealthStatus("descent.v1.ParameterServer"), Health::NOT_SERVING);
  service_->Attach(shard_.get());
  EXPECT_EQ(HealthStatus(), Health::SERVING);
  EXPECT_EQ(HealthStatus("descent.v1.ParameterServer"), Health::SERVING);
  service_->Close();  // the job ended
  EXPECT_EQ(HealthStatus(), Health::NOT_SERVING);
}

RefusalTarpitOptions Tarpit(absl::Duration delay, int max_calls = 64) {
  RefusalTarpitOptions tarpit;
  tarpit.delay = delay;
  tarpit.max_calls = max_calls;
  return tarpit;
}

TEST_F(ServerGuardTest, RefusedCallsAreAnsweredLateWellFormedOnesAtOnce) {
  const absl::Duration delay = absl::Seconds(2);
  Start(kMaxMessageBytes, Tarpit(delay));
  service_->Attach(shard_.get());
  ASSERT_TRUE(PullAll().ok());                                 // connected
  std::unique_ptr<Call> refused = SendPushPull(/*worker=*/7);  // no such one
  AwaitRejected("unknown_worker", 1);
  // Held refusals do not delay the shard's work.
  const absl::Time start = absl::Now();
  ASSERT_TRUE(PullAll().ok());
  std::unique_ptr<Call> push = SendPushPull(/*worker=*/0);
  push->done.WaitForNotification();
  EXPECT_TRUE(push->status.ok()) << push->status.error_message();
  EXPECT_LT(absl::Now() - start, delay);
  refused->done.WaitForNotification();
  EXPECT_EQ(refused->status.error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_GE(refused->took, delay);
  // Counted once, and it changed nothing: only worker 0's push applied.
  EXPECT_EQ(Rejected("unknown_worker"), 1);
  EXPECT_EQ(shard_->version(), 1);
  EXPECT_EQ(metrics_->pushes.Value(), 1);
}

TEST_F(ServerGuardTest, PastItsCapTheTarpitAnswersAtOnce) {
  const absl::Duration delay = absl::Seconds(3);
  Start(kMaxMessageBytes, Tarpit(delay, /*max_calls=*/2));
  service_->Attach(shard_.get());
  ASSERT_TRUE(PullAll().ok());
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 4; ++i) calls.push_back(SendPushPull(100 + i));
  int late = 0, prompt = 0;
  for (const std::unique_ptr<Call>& call : calls) {
    call->done.WaitForNotification();
    EXPECT_EQ(call->status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    if (call->took >= delay) ++late;
    if (call->took < delay / 2) ++prompt;
  }
  EXPECT_EQ(late, 2);
  EXPECT_EQ(prompt, 2);
  EXPECT_EQ(Rejected("unknown_worker"), 4);
  EXPECT_EQ(shard_->version(), 0);
}

TEST_F(ServerGuardTest, CloseAnswersHeldRefusalsAndShutdownDoesNotWait) {
  const absl::Duration delay = absl::Seconds(60);
  Start(kMaxMessageBytes, Tarpit(delay));
  service_->Attach(shard_.get());
  std::unique_ptr<Call> first = SendPushPull(100);
  std::unique_ptr<Call> second = SendPushPull(101);
  AwaitRejected("unknown_worker", 2);
  const absl::Time start = absl::Now();
  service_->Close();  // what the server role does before Shutdown
  server_.server->Shutdown();
  EXPECT_TRUE(first->done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_TRUE(second->done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_LT(absl::Now() - start, delay / 2);
  EXPECT_EQ(first->status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace descent
