#include "server/shard/parameter_shard.h"

#include <cmath>
#include <limits>
#include <vector>

#include "common/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/shard/shard_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kBegin = 10;
constexpr int64_t kEnd = 20;
constexpr float kLearningRate = 0.5f;

ParamLayout TestLayout() {
  ParamLayout layout;
  layout.Add({"w", {30}, InitRule::kXavierUniform, 30, 1});
  return layout;
}

std::unique_ptr<ParameterShard> MakeShard() {
  ParameterShardOptions options;
  options.job_id = "job-1";
  options.num_workers = 2;
  options.range = {kBegin, kEnd};
  options.layout = TestLayout();
  options.seed = 7;
  options.optimizer.mutable_sgd()->set_learning_rate(kLearningRate);
  auto shard = ParameterShard::Create(std::move(options));
  EXPECT_TRUE(shard.ok()) << shard.status();
  return *std::move(shard);
}

v1::PushRequest Push(uint64_t offset, const std::vector<float>& gradient,
                     uint64_t request_id = 1) {
  v1::PushRequest request;
  request.mutable_header()->set_job_id("job-1");
  request.mutable_header()->set_worker_id(0);
  request.mutable_header()->set_step(3);
  request.mutable_header()->set_request_id(request_id);
  request.mutable_gradient()->set_offset(offset);
  EncodeFloats(gradient.data(), gradient.size(),
               request.mutable_gradient()->mutable_values());
  return request;
}

TEST(ParameterShardTest, InitializesFromSeedAndGlobalIndex) {
  auto shard = MakeShard();
  std::vector<float> whole(30);
  TestLayout().Initialize(7, 0, 30, whole.data());
  std::vector<float> expected(whole.begin() + kBegin, whole.begin() + kEnd);
  EXPECT_EQ(shard->Snapshot(), expected);
  EXPECT_EQ(MakeShard()->Snapshot(), expected);  // same seed, same values
}

TEST(ParameterShardTest, PushPullAppliesSgdAndReturnsSlice) {
  auto shard = MakeShard();
  const std::vector<float> before = shard->Snapshot();
  std::vector<float> gradient(kEnd - kBegin);
  for (size_t i = 0; i < gradient.size(); ++i) gradient[i] = 0.1f * i;
  v1::PushPullResponse response;
  ASSERT_TRUE(PushPullNow(*shard, Push(kBegin, gradient), &response).ok());
  std::vector<float> after = shard->Snapshot();
  for (size_t i = 0; i < gradient.size(); ++i) {
    EXPECT_FLOAT_EQ(after[i], before[i] - kLearningRate * gradient[i]);
  }
  EXPECT_EQ(response.version(), 1);
  EXPECT_EQ(response.params().offset(), uint64_t(kBegin));
  EXPECT_EQ(Floats(response.params().values()), after);
}

TEST(ParameterShardTest, PushOfSubRangeTouchesOnlyThatRange) {
  auto shard = MakeShard();
  const std::vector<float> before = shard->Snapshot();
  v1::PushResponse response;
  absl::Status result;
  shard->Push(Push(kBegin + 2, {1.0f, 1.0f}), &response,
              [&](absl::Status s) { result = s; });
  ASSERT_TRUE(result.ok()) << result;
  const std::vector<float> after = shard->Snapshot();
  for (int i = 0; i < kEnd - kBegin; ++i) {
    const float expected =
        (i == 2 || i == 3) ? before[i] - kLearningRate : before[i];
    EXPECT_FLOAT_EQ(after[i], expected) << i;
  }
  EXPECT_EQ(response.version(), 1);
}

TEST(ParameterShardTest, RetriedPushIsAppliedOnce) {
  auto shard = MakeShard();
  std::vector<float> gradient(kEnd - kBegin, 1.0f);
  v1::PushPullResponse first, second;
  ASSERT_TRUE(PushPullNow(*shard, Push(kBegin, gradient, 42), &first).ok());
  ASSERT_TRUE(PushPullNow(*shard, Push(kBegin, gradient, 42), &second).ok());
  EXPECT_EQ(shard->version(), 1);
  EXPECT_EQ(Floats(second.params().values()), Floats(first.params().values()));
  ASSERT_TRUE(PushPullNow(*shard, Push(kBegin, gradient, 43), &second).ok());
  EXPECT_EQ(shard->version(), 2);
}

// Every malformed push is refused with the right code and changes nothing.
TEST(ParameterShardTest, InvalidPushesChangeNothing) {
  struct Case {
    std::string name;
    v1::PushRequest request;
    absl::StatusCode code;
    std::string message;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<Case> cases;
  cases.push_back({"wrong job", Push(kBegin, {1}),
                   absl::StatusCode::kFailedPrecondition, "job id \"other\""});
  cases.back().request.mutable_header()->set_job_id("other");
  cases.push_back({"unknown worker", Push(kBegin, {1}),
                   absl::StatusCode::kFailedPrecondition, "unknown worker 2"});
  cases.back().request.mutable_header()->set_worker_id(2);
  cases.push_back({"coordinator may not push", Push(kBegin, {1}),
                   absl::StatusCode::kFailedPrecondition, "unknown worker -1"});
  cases.back().request.mutable_header()->set_worker_id(kCoordinatorWorkerId);
  cases.push_back({"negative step", Push(kBegin, {1}),
                   absl::StatusCode::kInvalidArgument, "step must be in [0, "});
  cases.back().request.mutable_header()->set_step(-1);
  cases.push_back({"ragged bytes", Push(kBegin, {1}),
                   absl::StatusCode::kInvalidArgument, "multiple of 4"});
  cases.back().request.mutable_gradient()->mutable_values()->push_back('x');
  cases.push_back({"empty", Push(kBegin, {}),
                   absl::StatusCode::kInvalidArgument, "non-empty"});
  cases.push_back({"offset below range", Push(kBegin - 1, {1}),
                   absl::StatusCode::kInvalidArgument,
                   "outside this shard's range"});
  cases.push_back({"runs past range", Push(kEnd - 1, {1, 1}),
                   absl::StatusCode::kInvalidArgument,
                   "outside this shard's range"});
  cases.push_back(
      {"offset overflow", Push(std::numeric_limits<uint64_t>::max(), {1}),
       absl::StatusCode::kInvalidArgument, "outside this shard's range"});
  cases.push_back({"NaN", Push(kBegin, {0, nan}),
                   absl::StatusCode::kInvalidArgument,
                   "index 11 is not finite"});
  cases.push_back({"infinity", Push(kBegin, {-inf}),
                   absl::StatusCode::kInvalidArgument, "not finite"});

  for (const Case& c : cases) {
    auto shard = MakeShard();
    const std::vector<float> before = shard->Snapshot();
    v1::PushPullResponse response;
    absl::Status status = PushPullNow(*shard, c.request, &response);
    EXPECT_EQ(status.code(), c.code) << c.name << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr(c.message)) << c.name;
    EXPECT_EQ(shard->Snapshot(), before) << c.name;
    EXPECT_EQ(shard->version(), 0) << c.name;
    EXPECT_FALSE(response.has_params()) << c.name;
  }
}

v1::PullRequest Pull(uint64_t offset, uint64_t length, int32_t worker = 0) {
  v1::PullRequest request;
  request.mutable_header()->set_job_id("job-1");
  request.mutable_header()->set_worker_id(worker);
  request.set_offset(offset);
  request.set_length(length);
  return request;
}

TEST(ParameterShardTest, PullReturnsRequestedRange) {
  auto shard = MakeShard();
  const std::vector<float> all = shard->Snapshot();
  v1::PullResponse response;
  ASSERT_TRUE(shard->Pull(Pull(kBegin + 3, 4), &response).ok());
  EXPECT_EQ(response.params().offset(), uint64_t(kBegin + 3));
  EXPECT_EQ(Floats(response.params().values()),
            std::vector<float>(all.begin() + 3, all.begin() + 7));
  // Length 0 means "to the end of the shard"; the coordinator may pull.
  ASSERT_TRUE(
      shard->Pull(Pull(kBegin, 0, kCoordinatorWorkerId), &response).ok());
  EXPECT_EQ(Floats(response.params().values()), all);
}

TEST(ParameterShardTest, InvalidPullsAreRefused) {
  auto shard = MakeShard();
  v1::PullResponse response;
  EXPECT_EQ(shard->Pull(Pull(kBegin - 1, 2), &response).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shard->Pull(Pull(kBegin, 11), &response).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shard->Pull(Pull(kEnd + 1, 0), &response).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      shard->Pull(Pull(kBegin, std::numeric_limits<uint64_t>::max()), &response)
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shard->Pull(Pull(kBegin, 1, 5), &response).code(),
            absl::StatusCode::kFailedPrecondition);
  v1::PullRequest wrong_job = Pull(kBegin, 1);
  wrong_job.mutable_header()->set_job_id("x");
  const absl::Status refused = shard->Pull(wrong_job, &response);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  // The refusal does not tell a stranger the job's id ("job").
  EXPECT_EQ(std::string(refused.message()).find("\"job\""), std::string::npos)
      << refused.message();
  EXPECT_FALSE(response.has_params());
}

TEST(ParameterShardTest, CreateRejectsRangeOutsideLayout) {
  ParameterShardOptions options;
  options.layout = TestLayout();
  options.range = {25, 31};
  options.optimizer.mutable_sgd()->set_learning_rate(0.1);
  EXPECT_EQ(ParameterShard::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.range = {0, 30};
  options.optimizer.clear_sgd();
  EXPECT_EQ(ParameterShard::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace descent
