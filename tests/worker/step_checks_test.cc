// StepChecks: the divergence guard's verdicts and messages, per-layer
// norms, and clipping by value then by global norm.
#include "worker/step_checks.h"

#include <cmath>
#include <limits>
#include <vector>

#include "common/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

ParamLayout TwoTensors() {
  ParamLayout layout;
  layout.Add({"weights", {3}, InitRule::kZeros, 1, 1});
  layout.Add({"bias", {1}, InitRule::kZeros, 1, 1});
  return layout;
}

TEST(StepChecksTest, MeasuresEachLayerAndTheWhole) {
  const ParamLayout layout = TwoTensors();
  StepChecks checks({}, layout, /*has_rows=*/true, nullptr);
  EXPECT_EQ(checks.layers(),
            (std::vector<std::string>{"weights", "bias", "sparse_rows"}));
  std::vector<float> dense = {3, 0, 4, 12}, rows = {0, 84};
  absl::StatusOr<double> norm =
      checks.Check(0, 1.0f, {dense.data(), 4}, {rows.data(), 2});
  ASSERT_TRUE(norm.ok()) << norm.status();
  EXPECT_EQ(checks.norms(), (std::vector<double>{5, 12, 84}));
  EXPECT_DOUBLE_EQ(*norm, 85);  // sqrt(25 + 144 + 7056)
}

TEST(StepChecksTest, ANonFiniteGradientNamesItsLayer) {
  const ParamLayout layout = TwoTensors();
  StepCheckOptions options;
  options.worker_id = 3;
  StepChecks checks(options, layout, false, nullptr);
  std::vector<float> dense = {1, 1, 1, std::numeric_limits<float>::infinity()};
  absl::StatusOr<double> norm = checks.Check(7, 0.5f, {dense.data(), 4}, {});
  ASSERT_FALSE(norm.ok());
  EXPECT_EQ(ExitCodeFor(norm.status()), kExitDiverged);
  EXPECT_THAT(norm.status().message(),
              HasSubstr("worker 3 got a gradient of L2 norm inf in layer bias "
                        "at its step 7"));
}

TEST(StepChecksTest, ALossFarAboveTheFirstStepsIsADivergence) {
  const ParamLayout layout = TwoTensors();
  StepCheckOptions options;
  options.max_loss_factor = 100;
  StepChecks checks(options, layout, false, nullptr);
  std::vector<float> dense(4, 0.1f);
  for (int step = 0; step < 10; ++step) {
    ASSERT_TRUE(checks.Check(step, 1.0f, {dense.data(), 4}, {}).ok());
  }
  absl::StatusOr<double> norm = checks.Check(10, 500.0f, {dense.data(), 4}, {});
  ASSERT_FALSE(norm.ok());
  EXPECT_THAT(norm.status().message(),
              HasSubstr("got loss 500 at its step 10, more than 100 times"));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  StepChecks fresh({}, layout, false, nullptr);
  EXPECT_FALSE(fresh.Check(0, nan, {dense.data(), 4}, {}).ok());
}

TEST(StepChecksTest, ClipsByValueThenByTheWholeNorm) {
  const ParamLayout layout = TwoTensors();
  StepCheckOptions options;
  options.clip_value = 2;
  options.clip_norm = 1;
  StepChecks checks(options, layout, true, nullptr);
  std::vector<float> dense = {10, 0, 0, 0}, rows = {-10, 0};
  const double norm =
      *checks.Check(0, 1.0f, {dense.data(), 4}, {rows.data(), 2});
  checks.Clip({dense.data(), 4}, {rows.data(), 2}, norm);
  // Clamped to (2, -2), then scaled to norm 1 together.
  const float r = static_cast<float>(1 / std::sqrt(2.0));
  EXPECT_FLOAT_EQ(dense[0], r);
  EXPECT_FLOAT_EQ(rows[0], -r);
}

TEST(StepChecksTest, WithoutClippingTheGradientIsUntouched) {
  const ParamLayout layout = TwoTensors();
  StepChecks checks({}, layout, false, nullptr);
  std::vector<float> dense = {10, 20, 30, 40};
  const std::vector<float> before = dense;
  checks.Clip({dense.data(), 4}, {}, 100);
  EXPECT_EQ(dense, before);
}

}  // namespace
}  // namespace descent
