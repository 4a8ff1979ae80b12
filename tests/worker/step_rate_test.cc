#include "worker/step_rate.h"

#include "gtest/gtest.h"

namespace descent {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(100);

TEST(StepRateTest, ZeroUntilTwoStepsWithDistinctEnds) {
  StepRate rate;
  EXPECT_EQ(rate.steps_per_second(), 0);
  rate.Add(kStart, 32);
  EXPECT_EQ(rate.steps_per_second(), 0);
  rate.Add(kStart, 32);
  EXPECT_EQ(rate.steps_per_second(), 0);
  EXPECT_EQ(rate.examples_per_second(), 0);
}

TEST(StepRateTest, RatesOverTheStepsAfterTheOldest) {
  StepRate rate(/*window=*/4);
  // Three steps end 0.5 s apart; the first one's examples were done before
  // the span began.
  rate.Add(kStart, 1000);
  rate.Add(kStart + absl::Milliseconds(500), 10);
  rate.Add(kStart + absl::Seconds(1), 30);
  EXPECT_DOUBLE_EQ(rate.steps_per_second(), 2.0);
  EXPECT_DOUBLE_EQ(rate.examples_per_second(), 40.0);
}

TEST(StepRateTest, ForgetsStepsOutsideTheWindow) {
  StepRate rate(/*window=*/3);
  rate.Add(kStart, 1);  // slow early steps...
  rate.Add(kStart + absl::Seconds(10), 1);
  rate.Add(kStart + absl::Seconds(20), 1);
  EXPECT_DOUBLE_EQ(rate.steps_per_second(), 0.1);
  // ...then fast ones: only the last three steps count.
  rate.Add(kStart + absl::Seconds(21), 4);
  rate.Add(kStart + absl::Seconds(22), 4);
  EXPECT_DOUBLE_EQ(rate.steps_per_second(), 1.0);
  EXPECT_DOUBLE_EQ(rate.examples_per_second(), 4.0);
}

}  // namespace
}  // namespace descent
