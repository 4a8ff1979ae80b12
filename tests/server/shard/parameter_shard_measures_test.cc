// What a ParameterShard reports about its updates for the server metrics
// (PushRecord): which push applied an update and how long it took, the
// parameter and update norms against a naive computation and how often
// they are measured, and the bytes the shard holds.
#include <cmath>
#include <vector>

#include "common/wire.h"
#include "gtest/gtest.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

constexpr int64_t kBegin = 10;
constexpr int64_t kEnd = 20;
constexpr int64_t kSize = kEnd - kBegin;

// A shard of [kBegin, kEnd) of a Xavier-initialized tensor, with a fake
// clock; every valid push's record lands in `records`.
class MeasuresTest : public ::testing::Test {
 protected:
  void Make(int norm_every, v1::OptimizerConfig optimizer = Sgd()) {
    ParameterShardOptions options;
    options.job_id = "job-1";
    options.range = {kBegin, kEnd};
    options.layout.Add({"w", {30}, InitRule::kXavierUniform, 30, 1});
    options.seed = 7;
    options.optimizer = optimizer;
    options.norm_every = norm_every;
    options.observer = [this](const PushRecord& r) { records_.push_back(r); };
    options.clock = [this] { return now_; };
    auto shard = ParameterShard::Create(std::move(options));
    ASSERT_TRUE(shard.ok()) << shard.status();
    shard_ = *std::move(shard);
  }

  static v1::OptimizerConfig Sgd() {
    v1::OptimizerConfig config;
    config.mutable_sgd()->set_learning_rate(0.5);
    return config;
  }

  // Pushes `gradient` at global index `offset` (ASP: applied at once).
  void Push(uint64_t offset, const std::vector<float>& gradient) {
    v1::PushRequest request;
    request.mutable_header()->set_job_id("job-1");
    request.mutable_header()->set_request_id(next_id_++);
    request.set_base_version(shard_->version());
    request.mutable_gradient()->set_offset(offset);
    EncodeFloats(gradient.data(), gradient.size(),
                 request.mutable_gradient()->mutable_values());
    v1::PushPullResponse response;
    absl::Status status = absl::UnknownError("not answered");
    shard_->PushPull(request, &response, [&](absl::Status s) { status = s; });
    ASSERT_TRUE(status.ok()) << status;
  }

  static double Norm(const std::vector<float>& v) {
    double sum = 0;
    for (float x : v) sum += static_cast<double>(x) * x;
    return std::sqrt(sum);
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::unique_ptr<ParameterShard> shard_;
  std::vector<PushRecord> records_;
  uint64_t next_id_ = 1;
};

TEST_F(MeasuresTest, NormsMatchANaiveComputation) {
  Make(/*norm_every=*/1);
  std::vector<float> before = shard_->Snapshot();
  EXPECT_NEAR(shard_->parameter_norm(), Norm(before), 1e-6);
  // A full-slice push, then one that touches three elements only.
  for (const auto& [offset, gradient] :
       std::vector<std::pair<uint64_t, std::vector<float>>>{
           {kBegin, std::vector<float>(kSize, 0.25f)},
           {kBegin + 2, {1.0f, -2.0f, 3.0f}}}) {
    Push(offset, gradient);
    const std::vector<float> after = shard_->Snapshot();
    std::vector<float> change(kSize);
    for (int64_t i = 0; i < kSize; ++i) change[i] = after[i] - before[i];
    const PushRecord& r = records_.back();
    EXPECT_TRUE(r.applied);
    ASSERT_TRUE(r.norms_measured);
    EXPECT_NEAR(r.parameter_norm, Norm(after), 1e-6 * Norm(after));
    EXPECT_NEAR(r.update_norm, Norm(change), 1e-6 * Norm(change));
    // SGD: the change is the learning rate times the gradient.
    EXPECT_NEAR(r.update_norm, 0.5 * Norm(gradient), 1e-6);
    EXPECT_EQ(r.apply_seconds, 0);  // the fake clock stood still
    before = after;
  }
}

TEST_F(MeasuresTest, NormsAreMeasuredEveryNthUpdateAndAfterASecond) {
  Make(/*norm_every=*/3);
  const std::vector<float> gradient(kSize, 0.1f);
  for (int i = 0; i < 5; ++i) Push(kBegin, gradient);
  now_ += absl::Seconds(1);
  Push(kBegin, gradient);  // version 5: not a multiple of 3, but late
  now_ += absl::Milliseconds(999);
  Push(kBegin, gradient);  // version 6: a multiple of 3
  Push(kBegin, gradient);  // version 7: neither
  std::vector<bool> measured;
  for (const PushRecord& r : records_) measured.push_back(r.norms_measured);
  EXPECT_EQ(measured, std::vector<bool>({true, false, false, true, false, true,
                                         true, false}));
}

TEST_F(MeasuresTest, NormEveryZeroNeverMeasures) {
  Make(/*norm_every=*/0);
  Push(kBegin, std::vector<float>(kSize, 0.1f));
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_TRUE(records_[0].applied);
  EXPECT_FALSE(records_[0].norms_measured);
}

TEST_F(MeasuresTest, MemoryCountsParametersBuffersAndOptimizerState) {
  Make(/*norm_every=*/1);
  const int64_t sgd = shard_->memory_bytes();
  // Parameters and the norm buffer (pushes arrive aligned: no decode copy).
  EXPECT_GE(sgd, 2 * kSize * 4);
  Push(kBegin, std::vector<float>(kSize, 0.1f));
  // Plus the undo log an update keeps: a copy of what it changed (SGD: the
  // parameters only) and one range entry.
  EXPECT_GE(records_.back().memory_bytes, sgd + kSize * 4);
  EXPECT_LE(records_.back().memory_bytes, sgd + kSize * 4 + 64);
  v1::OptimizerConfig adam;
  adam.mutable_adam()->set_learning_rate(0.01);
  Make(/*norm_every=*/1, adam);
  // Adam adds two moments and a step count per parameter.
  EXPECT_GE(shard_->memory_bytes() - sgd, 3 * kSize * 4);
}

}  // namespace
}  // namespace descent
