// BeatEverySteps: a worker's share of the evaluation interval, between the
// heartbeats it sends at once so the coordinator hears of each boundary.
#include "roles/worker_role.h"

#include "gtest/gtest.h"

namespace descent {
namespace {

TEST(BeatEverySteps, IsTheWorkersShareOfTheInterval) {
  v1::JobConfig config;
  config.mutable_train()->set_eval_every_steps(20);
  EXPECT_EQ(BeatEverySteps(config, 2), 10);
  config.mutable_train()->set_eval_every_steps(5);
  EXPECT_EQ(BeatEverySteps(config, 8), 1);  // at least every step
  config.mutable_train()->set_eval_every_steps(0);
  EXPECT_EQ(BeatEverySteps(config, 2), 0);  // no periodic evaluations
}

}  // namespace
}  // namespace descent
