// The sparse table of a ParameterShard: placement, first-touch creation,
// deterministic initial rows, validation, and rows in PushPull answers.
#include <cstring>
#include <limits>
#include <vector>

#include "common/partition.h"
#include "common/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shard/parameter_shard.h"
#include "tests/server/shard/shard_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr int kShards = 3;
constexpr int kWidth = 3;
constexpr uint64_t kSeed = 11;
constexpr float kLearningRate = 0.5f;

SparseTableSpec Table() { return SparseTableSpec{kWidth, {0.0f, 0.1f, 0.2f}}; }

// Shard `shard` of kShards, owning one dense bias when it is shard 0.
std::unique_ptr<ParameterShard> MakeShard(int shard) {
  ParameterShardOptions options;
  options.job_id = "job-1";
  options.num_workers = 2;
  options.layout.Add({"bias", {1}, InitRule::kZeros});
  options.range = shard == 0 ? IndexRange{0, 1} : IndexRange{1, 1};
  options.seed = kSeed;
  options.optimizer.mutable_sgd()->set_learning_rate(kLearningRate);
  options.shard = shard;
  options.num_shards = kShards;
  options.table = Table();
  auto created = ParameterShard::Create(std::move(options));
  EXPECT_TRUE(created.ok()) << created.status();
  return *std::move(created);
}

// The first `n` keys, in increasing order, that ShardOfKey puts on `shard`.
std::vector<uint64_t> KeysOn(int shard, int n) {
  std::vector<uint64_t> keys;
  for (uint64_t key = 0; static_cast<int>(keys.size()) < n; ++key) {
    if (ShardOfKey(key, kShards) == shard) keys.push_back(key);
  }
  return keys;
}

std::vector<float> InitialRow(uint64_t key) {
  std::vector<float> row(kWidth);
  Table().InitializeRow(kSeed, key, row.data());
  return row;
}

v1::PushRequest RowPush(const std::vector<uint64_t>& keys,
                        const std::vector<float>& grads,
                        const std::vector<uint64_t>& pull_keys = {},
                        uint64_t request_id = 1) {
  v1::PushRequest request;
  request.mutable_header()->set_job_id("job-1");
  request.mutable_header()->set_worker_id(0);
  request.mutable_header()->set_request_id(request_id);
  v1::SparseRows* rows = request.mutable_row_gradients();
  rows->set_width(kWidth);
  for (uint64_t key : keys) rows->add_keys(key);
  EncodeFloats(grads.data(), grads.size(), rows->mutable_values());
  for (uint64_t key : pull_keys) request.add_pull_keys(key);
  return request;
}

// A pull of the rows of `keys` and of the dense range of shards 1 and 2.
v1::PullRequest RowPull(const std::vector<uint64_t>& keys) {
  v1::PullRequest request;
  request.set_offset(1);
  request.mutable_header()->set_job_id("job-1");
  request.mutable_header()->set_worker_id(0);
  for (uint64_t key : keys) request.add_keys(key);
  return request;
}

TEST(ParameterShardSparseTest, PullOfUntouchedRowsReadsInitialValues) {
  auto shard = MakeShard(1);
  const std::vector<uint64_t> keys = KeysOn(1, 4);
  v1::PullResponse response;
  absl::Status pulled_status = shard->Pull(RowPull(keys), &response);
  ASSERT_TRUE(pulled_status.ok()) << pulled_status;
  std::vector<float> expected;
  for (uint64_t key : keys) {
    const std::vector<float> row = InitialRow(key);
    expected.insert(expected.end(), row.begin(), row.end());
  }
  EXPECT_EQ(response.rows().width(), kWidth);
  EXPECT_THAT(response.rows().keys(), ::testing::ElementsAreArray(keys));
  EXPECT_EQ(Floats(response.rows().values()), expected);
  EXPECT_EQ(shard->sparse_rows(), 0);  // reading creates nothing
  EXPECT_EQ(expected[0], 0.0f);        // column 0 has stddev 0
  EXPECT_NE(expected[1], expected[kWidth + 1]);
}

TEST(ParameterShardSparseTest, PushCreatesRowsAndAppliesSgd) {
  auto shard = MakeShard(2);
  const std::vector<uint64_t> keys = KeysOn(2, 2);
  const std::vector<float> grads = {1, 2, 3, -1, -2, -3};
  v1::PushPullResponse response;
  ASSERT_TRUE(PushPullNow(*shard, RowPush(keys, grads, keys), &response).ok());
  EXPECT_EQ(shard->sparse_rows(), 2);
  std::vector<float> expected;
  for (int r = 0; r < 2; ++r) {
    const std::vector<float> row = InitialRow(keys[r]);
    for (int c = 0; c < kWidth; ++c) {
      expected.push_back(row[c] - kLearningRate * grads[r * kWidth + c]);
    }
  }
  EXPECT_EQ(Floats(response.rows().values()), expected);
  // A later pull sees the stored rows, and a retried push is applied once.
  ASSERT_TRUE(PushPullNow(*shard, RowPush(keys, grads, keys), &response).ok());
  v1::PullResponse pulled;
  ASSERT_TRUE(shard->Pull(RowPull(keys), &pulled).ok());
  EXPECT_EQ(Floats(pulled.rows().values()), expected);
  EXPECT_EQ(shard->version(), 1);
}

TEST(ParameterShardSparseTest, MemoryGrowsWithTheRowsCreated) {
  auto shard = MakeShard(1);
  const int64_t before = shard->memory_bytes();
  const std::vector<uint64_t> keys = KeysOn(1, 50);
  const std::vector<float> grads(keys.size() * kWidth, 0.5f);
  v1::PushPullResponse response;
  ASSERT_TRUE(PushPullNow(*shard, RowPush(keys, grads), &response).ok());
  // The rows themselves, and an index entry (key and row) for each.
  EXPECT_GE(shard->memory_bytes() - before,
            static_cast<int64_t>(keys.size() * (kWidth * 4 + 16)));
}

TEST(ParameterShardSparseTest, NewRowsGetOptimizerStateOfTheirOwn) {
  ParameterShardOptions options;
  options.job_id = "job-1";
  options.layout.Add({"bias", {1}, InitRule::kZeros});
  options.range = {0, 1};
  options.seed = kSeed;
  options.optimizer.mutable_adam()->set_learning_rate(0.1);
  options.num_shards = kShards;
  options.table = Table();
  auto shard = *ParameterShard::Create(std::move(options));
  // Adam's first step on any parameter moves it by lr * g / (|g| + eps),
  // about lr * sign(g), whichever rows came before it.
  const std::vector<uint64_t> keys = KeysOn(0, 3);
  for (int i = 0; i < 3; ++i) {
    v1::PushPullResponse response;
    ASSERT_TRUE(PushPullNow(*shard,
                            RowPush({keys[i]}, {2, -3, 0.5}, {keys[i]},
                                    /*request_id=*/i + 1),
                            &response)
                    .ok());
    const std::vector<float> row = Floats(response.rows().values());
    const std::vector<float> initial = InitialRow(keys[i]);
    EXPECT_NEAR(row[0], initial[0] - 0.1f, 1e-5f) << i;
    EXPECT_NEAR(row[1], initial[1] + 0.1f, 1e-5f) << i;
    EXPECT_NEAR(row[2], initial[2] - 0.1f, 1e-5f) << i;
  }
  EXPECT_EQ(shard->sparse_rows(), 3);
}

TEST(ParameterShardSparseTest, RowsOnlyPushToShardWithoutDenseRangeIsValid) {
  auto shard = MakeShard(1);  // dense range [1, 1): empty
  v1::PushPullResponse response;
  EXPECT_TRUE(
      PushPullNow(*shard, RowPush({}, {}, {}, /*request_id=*/5), &response)
          .ok());
  EXPECT_EQ(shard->version(), 1);
}

TEST(ParameterShardSparseTest, InvalidRowRequestsChangeNothing) {
  auto shard = MakeShard(0);
  const std::vector<uint64_t> mine = KeysOn(0, 2);
  const std::vector<uint64_t> theirs = KeysOn(1, 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    v1::PushRequest request;
    std::string message;
  };
  std::vector<Case> cases = {
      {RowPush({mine[1], mine[0]}, std::vector<float>(6, 1)),
       "strictly increasing"},
      {RowPush({mine[0], mine[0]}, std::vector<float>(6, 1)),
       "strictly increasing"},
      {RowPush({theirs[0]}, std::vector<float>(3, 1)), "belongs on shard 1"},
      {RowPush({mine[0]}, std::vector<float>(2, 1)), "rows are 3 floats wide"},
      {RowPush({mine[0]}, {1, nan, 1}), "not finite at column 1"},
      {RowPush({mine[0]}, std::vector<float>(3, 1), {theirs[0]}),
       "pull keys: key"},
  };
  cases[3].request.mutable_row_gradients()->set_width(2);
  for (Case& c : cases) {
    v1::PushPullResponse response;
    absl::Status status = PushPullNow(*shard, c.request, &response);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
  v1::PullResponse pulled;
  absl::Status status = shard->Pull(RowPull({theirs[0]}), &pulled);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shard->sparse_rows(), 0);
  EXPECT_EQ(shard->version(), 0);
}

// A model of one dense tensor of `size` zeros, all on one shard.
ParameterShardOptions DenseOptions(int64_t size) {
  ParameterShardOptions options;
  options.job_id = "job-1";
  options.layout.Add({"w", {size}, InitRule::kZeros});
  options.range = {0, size};
  options.optimizer.mutable_sgd()->set_learning_rate(1);
  return options;
}

TEST(ParameterShardSparseTest, DenseModelRefusesKeys) {
  auto shard = ParameterShard::Create(DenseOptions(4));
  ASSERT_TRUE(shard.ok());
  v1::PullResponse pulled;
  absl::Status status = (*shard)->Pull(RowPull({1}), &pulled);
  EXPECT_THAT(status.message(), HasSubstr("has no sparse table"));
}

TEST(ParameterShardSparseTest, CreateRejectsInconsistentTableAndShard) {
  ParameterShardOptions options = DenseOptions(1);
  options.table = SparseTableSpec{2, {0.1f}};
  EXPECT_FALSE(ParameterShard::Create(options).ok());
  options.table = Table();
  options.shard = 3;
  options.num_shards = 3;
  EXPECT_FALSE(ParameterShard::Create(options).ok());
}

}  // namespace
}  // namespace descent
