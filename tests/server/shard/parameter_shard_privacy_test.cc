// ParameterShard with federated privacy and robust aggregation (BSP):
// CENTRAL noise of standard
// deviation z C / m on the step's mean, seeded and the same run to run;
// none under LOCAL; adaptive clipping's clip norm from the pushes'
// unclipped counts, answered, kept in the shard's state; bad counts
// refused; per-client pushes aggregated by the median, and malformed ones
// refused.
#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "common/federated/client_privacy.h"
#include "common/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shard/parameter_shard.h"
#include "server/shard/shard_checkpoint.h"
#include "tests/server/shard/shard_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSize = 40000;

PrivacyOptions Central(double z, double clip) {
  PrivacyOptions p;
  p.enabled = true;
  p.noise_multiplier = z;
  p.clip_norm = clip;
  p.delta = 1e-5;
  p.noise_seed = 11;
  return p;
}

PrivacyOptions Adaptive() {
  PrivacyOptions p = Central(0.5, 2.0);
  p.target_quantile = 0.5;
  p.clip_learning_rate = 0.2;
  p.count_stddev = 1;
  return p;
}

// A BSP shard of 2 workers over all of a zero tensor, SGD at learning
// rate 1: each step subtracts the (noised) mean.
std::unique_ptr<ParameterShard> MakeShard(const PrivacyOptions& privacy,
                                          RobustOptions robust = {}) {
  ParameterShardOptions options;
  options.job_id = "job";
  options.num_workers = 2;
  options.range = {0, kSize};
  options.layout.Add({"w", {kSize}, InitRule::kZeros, kSize, 1});
  options.optimizer.mutable_sgd()->set_learning_rate(1);
  options.consistency = v1::BSP;
  options.privacy = privacy;
  options.robust = robust;
  auto shard = ParameterShard::Create(std::move(options));
  EXPECT_TRUE(shard.ok()) << shard.status();
  return *std::move(shard);
}

v1::PushRequest Request(int worker, int64_t step, float value, int clients,
                        int unclipped = 0) {
  v1::PushRequest request;
  request.mutable_header()->set_job_id("job");
  request.mutable_header()->set_worker_id(worker);
  request.mutable_header()->set_step(step);
  request.mutable_header()->set_request_id(step * 2 + worker + 1);
  request.set_base_version(step);
  request.set_examples(clients);
  request.set_unclipped(unclipped);
  const std::vector<float> gradient(kSize, value);
  request.mutable_gradient()->set_offset(0);
  EncodeFloats(gradient.data(), gradient.size(),
               request.mutable_gradient()->mutable_values());
  return request;
}

// Both workers' pushes of `step`; the second completes it. Returns worker
// 1's answer.
v1::PushPullResponse Step(ParameterShard& shard, int64_t step, float value,
                          int clients0, int clients1, int unclipped0 = 0,
                          int unclipped1 = 0) {
  v1::PushPullResponse first, second;
  absl::Status status0 = absl::UnknownError("unanswered"), status1 = status0;
  const v1::PushRequest r0 = Request(0, step, value, clients0, unclipped0);
  const v1::PushRequest r1 = Request(1, step, value, clients1, unclipped1);
  shard.PushPull(r0, &first, [&](absl::Status s) { status0 = s; });
  shard.PushPull(r1, &second, [&](absl::Status s) { status1 = s; });
  EXPECT_TRUE(status0.ok()) << status0;
  EXPECT_TRUE(status1.ok()) << status1;
  EXPECT_EQ(first.clip_norm(), second.clip_norm());
  return second;
}

double Mean(const std::vector<float>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

double Stddev(const std::vector<float>& v) {
  const double mean = Mean(v);
  double sum = 0;
  for (float x : v) sum += (x - mean) * (x - mean);
  return std::sqrt(sum / v.size());
}

TEST(ShardPrivacyTest, CentralNoiseIsZTimesClipOverTheStepsClients) {
  // m = 3 + 1 clients, z = 2, C = 3: stddev 1.5 on the mean.
  auto shard = MakeShard(Central(2.0, 3.0));
  Step(*shard, 0, 0.25f, 3, 1);
  const std::vector<float> params = shard->Snapshot();
  EXPECT_NEAR(Mean(params), -0.25, 0.03);
  EXPECT_NEAR(Stddev(params), 1.5, 0.02);
  // Seeded: another shard of the same options draws the same noise.
  auto again = MakeShard(Central(2.0, 3.0));
  Step(*again, 0, 0.25f, 3, 1);
  EXPECT_EQ(again->Snapshot(), params);
  // Another step draws other noise.
  Step(*shard, 1, 0.0f, 3, 1);
  std::vector<float> second = shard->Snapshot();
  for (int64_t i = 0; i < kSize; ++i) second[i] -= params[i];
  EXPECT_NEAR(Stddev(second), 1.5, 0.02);
  EXPECT_NE(second, params);
}

TEST(ShardPrivacyTest, LocalNoiseAndNoPrivacyLeaveTheMeanAsPushed) {
  PrivacyOptions local = Central(2.0, 3.0);
  local.local = true;
  for (const PrivacyOptions& p : {local, PrivacyOptions{}}) {
    auto shard = MakeShard(p);
    const v1::PushPullResponse answer = Step(*shard, 0, 0.25f, 3, 1);
    EXPECT_EQ(shard->Snapshot(), std::vector<float>(kSize, -0.25f));
    EXPECT_EQ(answer.clip_norm(), 0);  // only adaptive clipping answers it
  }
}

TEST(ShardPrivacyTest, AdaptiveClippingAnswersTheNextClipNorm) {
  const PrivacyOptions p = Adaptive();
  auto shard = MakeShard(p);
  v1::PullRequest pull;
  pull.mutable_header()->set_job_id("job");
  pull.mutable_header()->set_worker_id(0);
  v1::PullResponse pulled;
  ASSERT_TRUE(shard->Pull(pull, &pulled).ok());
  EXPECT_EQ(pulled.clip_norm(), 2.0f);
  // All 6 clients within the norm: it shrinks; none: it grows.
  const v1::PushPullResponse shrunk = Step(*shard, 0, 0.0f, 4, 2, 4, 2);
  EXPECT_EQ(shrunk.clip_norm(), NextClipNorm(p, 2.0f, 6, 6, 0));
  EXPECT_LT(shrunk.clip_norm(), 2.0f);
  const std::vector<float> before = shard->Snapshot();
  EXPECT_NEAR(Stddev(before), DeltaNoiseMultiplier(p) * 2.0 / 6, 0.01);
  const v1::PushPullResponse grown = Step(*shard, 1, 0.0f, 4, 2);
  EXPECT_EQ(grown.clip_norm(), NextClipNorm(p, shrunk.clip_norm(), 0, 6, 1));
  EXPECT_GT(grown.clip_norm(), shrunk.clip_norm());
  // Step 1's noise is scaled by step 1's clip norm, step 0's answer.
  std::vector<float> change = shard->Snapshot();
  for (int64_t i = 0; i < kSize; ++i) change[i] -= before[i];
  EXPECT_NEAR(Stddev(change), DeltaNoiseMultiplier(p) * shrunk.clip_norm() / 6,
              0.01);
  // The state keeps the clip norm; a restored shard answers it.
  std::string bytes;
  shard->Capture(0, [&](absl::StatusOr<ShardState> captured) {
    ASSERT_TRUE(captured.ok()) << captured.status();
    bytes = EncodeShardState(*captured);
  });
  absl::StatusOr<ShardState> state = DecodeShardState(bytes, "shard.st");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->clip_norm, grown.clip_norm());
  auto restored = MakeShard(p);
  ASSERT_TRUE(restored->Restore(*std::move(state)).ok());
  v1::PullResponse after;
  ASSERT_TRUE(restored->Pull(pull, &after).ok());
  EXPECT_EQ(after.clip_norm(), grown.clip_norm());
  EXPECT_EQ(after.version(), 2);
}

TEST(ShardPrivacyTest, UnclippedCountsOutOfRangeAreRefused) {
  auto shard = MakeShard(Adaptive());
  v1::PushPullResponse response;
  absl::Status status =
      PushPullNow(*shard, Request(0, 0, 0.0f, 2, 3), &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("unclipped must be in [0,"));
  status = PushPullNow(*shard, Request(0, 0, 0.0f, 2, -1), &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  auto fixed = MakeShard(Central(1.0, 1.0));
  status = PushPullNow(*fixed, Request(0, 0, 0.0f, 2, 1), &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("only for adaptive clipping"));
  EXPECT_EQ(shard->Snapshot(), std::vector<float>(kSize, 0.0f));
}

// A push of `values.size()` clients' updates, each all `values[c]`.
v1::PushRequest ClientsRequest(int worker, const std::vector<float>& values) {
  v1::PushRequest request = Request(worker, 0, 0.0f, 1);
  std::vector<float> all;
  for (float v : values) all.insert(all.end(), kSize, v);
  EncodeFloats(all.data(), all.size(),
               request.mutable_gradient()->mutable_values());
  request.set_clients(static_cast<int>(values.size()));
  request.set_examples(static_cast<int>(values.size()));
  return request;
}

TEST(ShardRobustTest, AppliesTheMedianOfEveryClientsUpdate) {
  RobustOptions median;
  median.rule = AggregationRule::kMedian;
  auto shard = MakeShard(PrivacyOptions{}, median);
  v1::PushPullResponse first, second;
  absl::Status status0 = absl::UnknownError("unanswered"), status1 = status0;
  const v1::PushRequest r0 = ClientsRequest(0, {1.0f, 100.0f});
  const v1::PushRequest r1 = ClientsRequest(1, {2.0f});
  shard->PushPull(r0, &first, [&](absl::Status s) { status0 = s; });
  shard->PushPull(r1, &second, [&](absl::Status s) { status1 = s; });
  ASSERT_TRUE(status0.ok()) << status0;
  ASSERT_TRUE(status1.ok()) << status1;
  // The median of 1, 100 and 2, not the mean 34.3.
  EXPECT_EQ(shard->Snapshot(), std::vector<float>(kSize, -2.0f));
}

TEST(ShardRobustTest, MalformedClientPushesAreRefused) {
  RobustOptions median;
  median.rule = AggregationRule::kMedian;
  auto shard = MakeShard(PrivacyOptions{}, median);
  v1::PushPullResponse response;
  v1::PushRequest request = ClientsRequest(0, {1.0f, 2.0f});
  request.set_examples(3);
  absl::Status status = PushPullNow(*shard, request, &response);
  EXPECT_THAT(status.message(), HasSubstr("clients must equal examples"));
  request = ClientsRequest(0, {1.0f, 2.0f});
  request.mutable_gradient()->mutable_values()->resize(kSize * 4);
  status = PushPullNow(*shard, request, &response);
  EXPECT_THAT(status.message(), HasSubstr("must hold 80000 float32 values"));
  status = PushPullNow(*shard, Request(0, 0, 1.0f, 1), &response);
  EXPECT_THAT(status.message(), HasSubstr("clients must be >= 1"));
  auto plain = MakeShard(PrivacyOptions{});
  status = PushPullNow(*plain, ClientsRequest(0, {1.0f}), &response);
  EXPECT_THAT(status.message(),
              HasSubstr("clients counts only for robust aggregation"));
  EXPECT_EQ(shard->Snapshot(), std::vector<float>(kSize, 0.0f));
}

}  // namespace
}  // namespace descent
