// PsClient over the in-process transport to real ParameterShards, with
// faults injected between them: no socket, no sleep. A retried push whose
// first answer was lost after the shard applied it is applied once; a push
// held in the network keeps a BSP step open until it arrives.
#include "server/shard/in_process_transport.h"

#include <memory>
#include <vector>

#include "common/faulty_transport.h"
#include "common/ps_client.h"
#include "gtest/gtest.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

constexpr int64_t kParams = 6;
constexpr float kLearningRate = 0.5f;
using Method = FaultyShardTransport::Method;

// Two shards of a 6-parameter model initialized to zeros, plain SGD.
class InProcessTransportTest : public ::testing::Test {
 protected:
  void MakeShards(v1::Consistency consistency, int workers) {
    for (int s = 0; s < 2; ++s) {
      ParameterShardOptions options;
      options.job_id = "job";
      options.num_workers = workers;
      options.range = {s * kParams / 2, (s + 1) * kParams / 2};
      options.layout.Add({"w", {kParams}, InitRule::kZeros, 1, 1});
      options.optimizer.mutable_sgd()->set_learning_rate(kLearningRate);
      options.consistency = consistency;
      shards_.push_back(*ParameterShard::Create(std::move(options)));
      v1::ShardInfo& info = map_.emplace_back();
      info.set_shard(s);
      info.set_address("in-process");
      info.set_begin(s * kParams / 2);
      info.set_end((s + 1) * kParams / 2);
    }
  }

  void TearDown() override {
    for (auto& shard : shards_) shard->Close();
  }

  // A client of worker `worker`; its transports' fault hooks land in
  // faulty_[worker].
  std::unique_ptr<PsClient> Client(int32_t worker) {
    faulty_.resize(std::max<size_t>(faulty_.size(), worker + 1));
    PsClient::Options options;
    options.job_id = "job";
    options.worker_id = worker;
    options.shards = map_;
    options.retry_backoff = absl::ZeroDuration();
    options.connect = FaultyShardTransport::Wrap(
        InProcessShardTransport::Factory({shards_[0].get(), shards_[1].get()}),
        &faulty_[worker]);
    auto client = PsClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  std::vector<float> Whole() const {
    std::vector<float> all = shards_[0]->Snapshot();
    for (float v : shards_[1]->Snapshot()) all.push_back(v);
    return all;
  }

  std::vector<std::unique_ptr<ParameterShard>> shards_;
  std::vector<v1::ShardInfo> map_;
  std::vector<std::vector<FaultyShardTransport*>> faulty_;
};

TEST_F(InProcessTransportTest, ALostAnswerIsRetriedAndAppliedOnce) {
  MakeShards(v1::ASP, 1);
  auto client = Client(0);
  faulty_[0][1]->LoseAnswer(Method::kPushPull, 1);
  const std::vector<float> grad(kParams, 1.0f);
  std::vector<float> params(kParams, 9.0f);
  PsClient::Transfer transfer;
  ASSERT_TRUE(
      client->PushPull({0, 1, false}, grad.data(), params.data(), &transfer)
          .ok());
  EXPECT_EQ(faulty_[0][1]->calls(Method::kPushPull), 2);
  // Both shards applied the gradient exactly once.
  EXPECT_EQ(shards_[0]->version(), 1);
  EXPECT_EQ(shards_[1]->version(), 1);
  const std::vector<float> once(kParams, -kLearningRate);
  EXPECT_EQ(Whole(), once);
  EXPECT_EQ(params, once);  // the retry's answer is the applied parameters
}

TEST_F(InProcessTransportTest, ADroppedPushIsSentAgainAndAppliedOnce) {
  MakeShards(v1::ASP, 1);
  auto client = Client(0);
  faulty_[0][0]->Drop(Method::kPushPull, 1);
  const std::vector<float> grad(kParams, 2.0f);
  std::vector<float> params(kParams);
  PsClient::Transfer transfer;
  ASSERT_TRUE(
      client->PushPull({0, 1, false}, grad.data(), params.data(), &transfer)
          .ok());
  EXPECT_EQ(shards_[0]->version(), 1);
  EXPECT_EQ(Whole(), std::vector<float>(kParams, -2 * kLearningRate));
}

TEST_F(InProcessTransportTest, BspWaitsForAPushHeldInTheNetwork) {
  MakeShards(v1::BSP, 2);
  auto fast = Client(0);
  auto slow = Client(1);
  faulty_[1][0]->Hold(Method::kPushPull, 1);
  faulty_[1][1]->Hold(Method::kPushPull, 1);
  const std::vector<float> g0(kParams, 1.0f), g1(kParams, 3.0f);
  std::vector<float> p0(kParams), p1(kParams);
  fast->StartPushPull({0, 1, false}, g0.data(), p0.data());
  slow->StartPushPull({0, 1, false}, g1.data(), p1.data());
  // Worker 1's gradient has not arrived: the step is still open.
  EXPECT_EQ(shards_[0]->version(), 0);
  EXPECT_EQ(shards_[1]->version(), 0);
  EXPECT_EQ(faulty_[1][0]->Release() + faulty_[1][1]->Release(), 2);
  PsClient::Transfer transfer;
  ASSERT_TRUE(fast->AwaitPushPull(&transfer).ok());
  ASSERT_TRUE(slow->AwaitPushPull(&transfer).ok());
  // One update from the mean gradient (1 + 3) / 2, seen by both workers.
  const std::vector<float> mean_step(kParams, -2 * kLearningRate);
  EXPECT_EQ(shards_[0]->version(), 1);
  EXPECT_EQ(Whole(), mean_step);
  EXPECT_EQ(p0, mean_step);
  EXPECT_EQ(p1, mean_step);
}

}  // namespace
}  // namespace descent
