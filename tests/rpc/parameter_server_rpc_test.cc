// The ParameterServer service over real gRPC on 127.0.0.1, driven by the
// PsClient that workers and the coordinator use.
#include <thread>

#include "common/metrics.h"
#include "common/partition.h"
#include "common/ps_client.h"
#include "common/wire.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "rpc/grpc_shard_transport.h"
#include "rpc/parameter_server_service.h"
#include "rpc/rpc.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kParams = 10;

// Two shards of a 10-parameter model, each behind its own gRPC server.
class ParameterServerRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = MetricsRegistry::Create({{"role", "server"}});
    metrics_ = std::make_unique<ServerMetrics>(*registry_);
    for (int s = 0; s < 2; ++s) {
      ParameterShardOptions options;
      options.job_id = "job-1";
      options.num_workers = 1;
      options.range = {s * 5, s * 5 + 5};
      options.layout.Add({"w", {kParams}, InitRule::kZeros, 1, 1});
      options.optimizer.mutable_sgd()->set_learning_rate(1.0);
      shards_.push_back(*ParameterShard::Create(std::move(options)));
      services_.push_back(std::make_unique<ParameterServerService>(
          metrics_.get(), security_.token));
      auto running =
          StartRpcServer("127.0.0.1:0", {services_.back().get()}, security_);
      ASSERT_TRUE(running.ok()) << running.status();
      servers_.push_back(*std::move(running));
      v1::ShardInfo& info = shard_map_.emplace_back();
      info.set_shard(s);
      info.set_address(servers_.back().address);
      info.set_begin(s * 5);
      info.set_end(s * 5 + 5);
    }
  }

  void AttachAll() {
    for (size_t s = 0; s < shards_.size(); ++s)
      services_[s]->Attach(shards_[s].get());
  }

  std::unique_ptr<PsClient> Client(int32_t worker_id = 0, int attempts = 3) {
    PsClient::Options options;
    options.job_id = "job-1";
    options.worker_id = worker_id;
    options.shards = shard_map_;
    options.deadline = absl::Seconds(5);
    options.max_attempts = attempts;
    options.connect = GrpcShardTransport::Factory(security_);
    return *PsClient::Create(std::move(options));
  }

  // Every call carries the job token, as the roles' do.
  const RpcSecurity security_{.token = "job-token"};
  std::unique_ptr<MetricsRegistry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::vector<std::unique_ptr<ParameterShard>> shards_;
  std::vector<std::unique_ptr<ParameterServerService>> services_;
  std::vector<RunningServer> servers_;
  std::vector<v1::ShardInfo> shard_map_;
};

TEST_F(ParameterServerRpcTest, PushPullUpdatesEveryShardAndReturnsParams) {
  AttachAll();
  auto client = Client();
  std::vector<float> grad(kParams), params(kParams, -1);
  for (int i = 0; i < kParams; ++i) grad[i] = i;
  PsClient::Transfer transfer;
  ASSERT_TRUE(
      client->PushPull({0}, grad.data(), params.data(), &transfer).ok());
  for (int i = 0; i < kParams; ++i) EXPECT_FLOAT_EQ(params[i], -i) << i;
  EXPECT_EQ(transfer.bytes_sent, kParams * 4);
  EXPECT_EQ(transfer.bytes_received, kParams * 4);
  std::vector<float> pulled(kParams);
  ASSERT_TRUE(client->Pull(1, pulled.data(), &transfer).ok());
  EXPECT_EQ(pulled, params);
  EXPECT_EQ(metrics_->pushes.Value(), 2);
  EXPECT_EQ(metrics_->push_bytes.Value(), kParams * 4);
}

TEST_F(ParameterServerRpcTest, SparseRowsTravelToTheirShardsInKeyOrder) {
  for (int s = 0; s < 2; ++s) {
    ParameterShardOptions options;
    options.job_id = "job-1";
    options.range = {s * 5, s * 5 + 5};
    options.layout.Add({"w", {kParams}, InitRule::kZeros, 1, 1});
    options.optimizer.mutable_sgd()->set_learning_rate(1.0);
    options.shard = s;
    options.num_shards = 2;
    options.table = SparseTableSpec{2, {0.0f, 0.0f}};  // rows start at 0
    shards_[s] = *ParameterShard::Create(std::move(options));
  }
  AttachAll();
  auto client = Client();
  std::vector<uint64_t> keys;
  std::vector<float> row_grads;
  for (uint64_t key = 10; key < 30; ++key) {
    keys.push_back(key);
    row_grads.insert(row_grads.end(), {float(key), -float(key)});
  }
  std::vector<float> grad(kParams, 0), params(kParams);
  std::vector<float> rows_after(keys.size() * 2, -99);
  PsClient::Rows rows;
  rows.width = 2;
  rows.push_keys = &keys;
  rows.push_grads = row_grads.data();
  rows.pull_keys = &keys;
  rows.pulled = rows_after.data();
  PsClient::Transfer transfer;
  absl::Status pushed =
      client->PushPull({0}, grad.data(), params.data(), &transfer, &rows);
  ASSERT_TRUE(pushed.ok()) << pushed;
  for (size_t k = 0; k < keys.size(); ++k) {
    EXPECT_EQ(rows_after[2 * k], -float(keys[k])) << keys[k];
    EXPECT_EQ(rows_after[2 * k + 1], float(keys[k])) << keys[k];
  }
  EXPECT_EQ(transfer.bytes_sent, (kParams + 2 * 20) * 4);
  // Every key went to the shard ShardOfKey names, and both got some.
  int64_t on_shard_0 = 0;
  for (uint64_t key : keys) on_shard_0 += ShardOfKey(key, 2) == 0;
  EXPECT_EQ(shards_[0]->sparse_rows(), on_shard_0);
  EXPECT_EQ(shards_[1]->sparse_rows(), 20 - on_shard_0);
  EXPECT_GT(on_shard_0, 0);
  EXPECT_LT(on_shard_0, 20);
  // A pull of some of them and one never pushed (its initial value, 0).
  const std::vector<uint64_t> some = {13, 17, 1000};
  std::vector<float> pulled(some.size() * 2, -99);
  rows.pull_keys = &some;
  rows.pulled = pulled.data();
  ASSERT_TRUE(client->Pull(1, params.data(), &transfer, &rows).ok());
  EXPECT_EQ(pulled, (std::vector<float>{-13, 13, -17, 17, 0, 0}));
}

TEST_F(ParameterServerRpcTest, RejectionArrivesAsGrpcCodeAndNamesShard) {
  AttachAll();
  auto client = Client(/*worker_id=*/3);  // the job has only worker 0
  std::vector<float> grad(kParams), params(kParams);
  PsClient::Transfer transfer;
  absl::Status status =
      client->PushPull({0}, grad.data(), params.data(), &transfer);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("unknown worker 3"));
  EXPECT_THAT(status.message(), HasSubstr(shard_map_[0].address()));
  EXPECT_EQ(shards_[0]->version(), 0);
  EXPECT_EQ(metrics_->rejected.Add({{"reason", "unknown_worker"}}).Value(), 2);
}

TEST_F(ParameterServerRpcTest, NonFiniteGradientIsInvalidArgument) {
  AttachAll();
  auto client = Client();
  std::vector<float> grad(kParams, 0), params(kParams);
  grad[7] = std::nanf("");
  PsClient::Transfer transfer;
  absl::Status status =
      client->PushPull({0}, grad.data(), params.data(), &transfer);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("index 7 is not finite"));
  EXPECT_EQ(shards_[1]->version(), 0);
  // Counted by reason (the gradient's index 7 is on one of the shards).
  EXPECT_EQ(metrics_->rejected.Add({{"reason", "non_finite"}}).Value(), 1);
}

TEST_F(ParameterServerRpcTest, UnattachedShardIsUnavailableThenRetried) {
  auto client = Client(0, /*attempts=*/1);
  std::vector<float> params(kParams);
  PsClient::Transfer transfer;
  EXPECT_EQ(client->Pull(0, params.data(), &transfer).code(),
            absl::StatusCode::kUnavailable);
  std::thread attach([this] {
    absl::SleepFor(absl::Milliseconds(30));
    AttachAll();
  });
  auto patient = Client(0, /*attempts=*/5);
  EXPECT_TRUE(patient->Pull(0, params.data(), &transfer).ok());
  attach.join();
}

TEST_F(ParameterServerRpcTest, ServesHealthChecks) {
  auto channel = MakeChannel(servers_[0].address, security_);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(stub->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(RpcServerTest, RefusesNonLoopbackWithoutInsecure) {
  auto running = StartRpcServer("0.0.0.0:0", {}, RpcSecurity{.token = "t"});
  EXPECT_EQ(running.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:5"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:5"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1:5"));
}

}  // namespace
}  // namespace descent
