// PsClient against fake shards that answer at once with fixed figures: what
// a PushPull reports in its Transfer.
#include "common/ps_client.h"

#include <memory>
#include <vector>

#include "common/rpc.h"
#include "common/wire.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

// Answers every PushPull with its range of zeros, version 1, and as
// held_seconds the value it was made with.
class FakeShard final : public v1::ParameterServer::CallbackService {
 public:
  FakeShard(uint64_t begin, uint64_t end, double held)
      : begin_(begin), end_(end), held_(held) {}

  grpc::ServerUnaryReactor* PushPull(grpc::CallbackServerContext* context,
                                     const v1::PushRequest* /*request*/,
                                     v1::PushPullResponse* response) override {
    const std::vector<float> zeros(end_ - begin_, 0.0f);
    response->mutable_params()->set_offset(begin_);
    EncodeFloats(zeros.data(), zeros.size(),
                 response->mutable_params()->mutable_values());
    response->set_version(1);
    response->set_held_seconds(held_);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const uint64_t begin_, end_;
  const double held_;
};

TEST(PsClientTest, PushPullReportsTheLongestHoldOfAnyShard) {
  const std::vector<double> held = {0.25, 1.5, 0.0};
  std::vector<std::unique_ptr<FakeShard>> shards;
  std::vector<RunningServer> servers;
  PsClient::Options options;
  options.job_id = "job";
  for (size_t s = 0; s < held.size(); ++s) {
    shards.push_back(std::make_unique<FakeShard>(2 * s, 2 * s + 2, held[s]));
    auto running = StartRpcServer("127.0.0.1:0", {shards.back().get()}, false);
    ASSERT_TRUE(running.ok()) << running.status();
    v1::ShardInfo& info = options.shards.emplace_back();
    info.set_shard(static_cast<int32_t>(s));
    info.set_address(running->address);
    info.set_begin(2 * s);
    info.set_end(2 * s + 2);
    servers.push_back(*std::move(running));
  }
  auto client = PsClient::Create(std::move(options));
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> grad(6, 1.0f), params(6, 9.0f);
  PsClient::Transfer transfer;
  ASSERT_TRUE(
      (*client)
          ->PushPull({0, 1, false}, grad.data(), params.data(), &transfer)
          .ok());
  EXPECT_EQ(transfer.held_seconds, 1.5);
  EXPECT_EQ(params, std::vector<float>(6, 0.0f));
  EXPECT_EQ(transfer.bytes_sent, 6 * 4);
  for (RunningServer& server : servers) server.server->Shutdown();
}

}  // namespace
}  // namespace descent
