// The coordinator role's checkpoint metrics: each parameter file written
// is counted and timed; a failed write counts nothing.
#include "roles/coordinator_role.h"

#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace descent {
namespace {

class WriteCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = MetricsRegistry::Create({{"role", "coordinator"}});
    metrics_ = std::make_unique<CoordinatorMetrics>(*registry_);
    params_.step = 7;
    params_.dense = {1, 2, 3};
  }

  uint64_t Timed() const {
    return metrics_->checkpoint_duration.Collect().histogram.sample_count;
  }

  std::unique_ptr<MetricsRegistry> registry_;
  std::unique_ptr<CoordinatorMetrics> metrics_;
  SavedParameters params_;
};

TEST_F(WriteCheckpointTest, CountsAndTimesEachFileWritten) {
  const std::string path = ::testing::TempDir() + "/best_params.bin";
  ASSERT_TRUE(WriteCheckpoint(path, params_, *metrics_).ok());
  ASSERT_TRUE(WriteCheckpoint(path, params_, *metrics_).ok());
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(metrics_->checkpoints.Value(), 2);
  EXPECT_EQ(Timed(), 2u);
}

TEST_F(WriteCheckpointTest, AFailedWriteCountsNothing) {
  EXPECT_FALSE(
      WriteCheckpoint("/nonexistent/dir/best_params.bin", params_, *metrics_)
          .ok());
  EXPECT_EQ(metrics_->checkpoints.Value(), 0);
  EXPECT_EQ(Timed(), 0u);
}

}  // namespace
}  // namespace descent
