// BeatEverySteps: a worker's share of the evaluation interval, between the
// heartbeats it sends at once so the coordinator hears of each boundary.
#include "roles/worker_role.h"

#include "gtest/gtest.h"

namespace descent {
namespace {

TEST(BeatEverySteps, IsTheWorkersShareOfTheInterval) {
  v1::JobConfig config;
  config.mutable_train()->set_eval_every_steps(20);
  EXPECT_EQ(BeatEverySteps(config, 2, 69), 10);
  config.mutable_train()->set_eval_every_steps(5);
  EXPECT_EQ(BeatEverySteps(config, 8, 100), 1);  // at least every step
  config.mutable_train()->set_eval_every_steps(0);
  EXPECT_EQ(BeatEverySteps(config, 2, 100), 0);  // no periodic evaluations
}

TEST(BeatEverySteps, UnsetIntervalFollowsTheCoordinatorsDefault) {
  v1::JobConfig config;  // eval_every_steps unset: total / 20
  EXPECT_EQ(BeatEverySteps(config, 2, 1407), 2814 / 20 / 2);
  EXPECT_EQ(BeatEverySteps(config, 1, 3), 1);
}

}  // namespace
}  // namespace descent
