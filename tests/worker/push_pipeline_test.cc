// PushPipeline against a real shard in process: without overlap each push
// is answered before Push returns; with overlap Push returns while its
// answer is held in the network, and the next Push makes that answer the
// current parameters. No sleeps: a held call stands in for a slow network.
#include "worker/push_pipeline.h"

#include <memory>
#include <vector>

#include "common/faulty_transport.h"
#include "gtest/gtest.h"
#include "server/shard/in_process_transport.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

constexpr int64_t kParams = 4;
using Method = FaultyShardTransport::Method;

class PushPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ParameterShardOptions options;
    options.job_id = "job";
    options.range = {0, kParams};
    options.layout.Add({"w", {kParams}, InitRule::kZeros, 1, 1});
    options.optimizer.mutable_sgd()->set_learning_rate(1.0);
    shard_ = *ParameterShard::Create(std::move(options));
    PsClient::Options client;
    client.job_id = "job";
    v1::ShardInfo& info = client.shards.emplace_back();
    info.set_address("in-process");
    info.set_end(kParams);
    client.connect = FaultyShardTransport::Wrap(
        InProcessShardTransport::Factory({shard_.get()}), &faulty_);
    ps_ = *PsClient::Create(std::move(client));
  }

  std::unique_ptr<PushPipeline> Pipeline(bool overlap, LocalSgd local = {}) {
    return std::make_unique<PushPipeline>(
        ps_.get(), overlap,
        [this](const PushPipeline::Step& step,
               const PsClient::Transfer* transfer) {
          pushed_.push_back(step.step);
          sent_.push_back(transfer != nullptr);
        },
        local);
  }

  std::unique_ptr<ParameterShard> shard_;
  std::vector<FaultyShardTransport*> faulty_;
  std::unique_ptr<PsClient> ps_;
  std::vector<int64_t> pushed_;
  // Per reported step: whether it pushed (a transfer came with it).
  std::vector<bool> sent_;
  std::vector<float> grad_ = std::vector<float>(kParams, 1.0f);
  std::vector<float> params_ = std::vector<float>(kParams, 0.0f);
};

TEST_F(PushPipelineTest, WithoutOverlapEachPushIsAnsweredAtOnce) {
  auto pipeline = Pipeline(false);
  for (int64_t step = 0; step < 3; ++step) {
    ASSERT_TRUE(pipeline
                    ->Push({step, 1, 0.5f, 0, step == 2}, grad_.data(),
                           &params_, nullptr)
                    .ok());
    EXPECT_EQ(params_, std::vector<float>(kParams, -(step + 1.0f)));
  }
  EXPECT_EQ(pushed_, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(pipeline->Finish().ok());
}

TEST_F(PushPipelineTest, WithOverlapTheNextGradientReadsTheParametersLate) {
  auto pipeline = Pipeline(true);
  faulty_[0]->Hold(Method::kPushPull, 1);
  ASSERT_TRUE(
      pipeline->Push({0, 1, 0.5f, 0}, grad_.data(), &params_, nullptr).ok());
  // Push 0 is still in the network: nothing applied, nothing reported.
  EXPECT_EQ(shard_->version(), 0);
  EXPECT_TRUE(pushed_.empty());
  EXPECT_EQ(params_, std::vector<float>(kParams, 0.0f));
  EXPECT_EQ(faulty_[0]->Release(), 1);
  // Step 1's push first takes in push 0's answer.
  ASSERT_TRUE(
      pipeline->Push({1, 1, 0.5f, 0}, grad_.data(), &params_, nullptr).ok());
  EXPECT_EQ(pushed_, std::vector<int64_t>{0});
  EXPECT_EQ(params_, std::vector<float>(kParams, -1.0f));
  ASSERT_TRUE(pipeline->Finish().ok());
  EXPECT_EQ(pushed_, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(shard_->version(), 2);
  EXPECT_TRUE(pipeline->Finish().ok());  // nothing in flight: no-op
}

TEST_F(PushPipelineTest, WithOverlapAFailedPushIsReportedByTheNextCall) {
  auto pipeline = Pipeline(true);
  faulty_[0]->Fail(Method::kPushPull, 1, absl::InvalidArgumentError("refused"));
  ASSERT_TRUE(
      pipeline->Push({0, 1, 0.5f, 0}, grad_.data(), &params_, nullptr).ok());
  absl::Status next =
      pipeline->Push({1, 1, 0.5f, 0}, grad_.data(), &params_, nullptr);
  EXPECT_TRUE(absl::IsInvalidArgument(next)) << next;
  EXPECT_TRUE(pushed_.empty());
  EXPECT_TRUE(pipeline->Finish().ok());
}

TEST_F(PushPipelineTest, LocalSgdPushesTheSumOfItsStepsEveryHSteps) {
  // Push every 3 steps; local steps at the shard's own rate (SGD, 1), so a
  // push moves the shard by exactly the local change. Step t's gradient is
  // t + 1 everywhere.
  auto pipeline = Pipeline(false, {3, 1.0f});
  auto grad = [](int64_t step) {
    return std::vector<float>(kParams, step + 1.0f);
  };
  const std::vector<float> after = {-1, -3, -6, -10};
  for (int64_t step = 0; step < 4; ++step) {
    const std::vector<float> g = grad(step);
    ASSERT_TRUE(
        pipeline
            ->Push({step, 1, 0.5f, 0, step == 3}, g.data(), &params_, nullptr)
            .ok());
    EXPECT_EQ(params_, std::vector<float>(kParams, after[step])) << step;
    // Pushes at step 2 (the third) and at the last step, 3.
    EXPECT_EQ(shard_->version(), step < 2 ? 0 : step - 1) << step;
  }
  EXPECT_EQ(shard_->Snapshot(), std::vector<float>(kParams, -10.0f));
  EXPECT_EQ(pushed_, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(sent_, (std::vector<bool>{false, false, true, true}));
  EXPECT_TRUE(pipeline->Finish().ok());
}

TEST_F(PushPipelineTest, LocalSgdTakesTheShardsParametersAtEachPush) {
  // Local steps at half the shard's rate: locally -0.5, then the push of
  // the sum (1 + 1) moves the shard to -2, which the worker takes.
  auto pipeline = Pipeline(false, {2, 0.5f});
  ASSERT_TRUE(
      pipeline->Push({0, 1, 0.5f, 0}, grad_.data(), &params_, nullptr).ok());
  EXPECT_EQ(params_, std::vector<float>(kParams, -0.5f));
  ASSERT_TRUE(
      pipeline->Push({1, 1, 0.5f, 0}, grad_.data(), &params_, nullptr).ok());
  EXPECT_EQ(params_, std::vector<float>(kParams, -2.0f));
  EXPECT_EQ(shard_->version(), 1);
}

}  // namespace
}  // namespace descent
