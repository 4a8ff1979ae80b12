// BeatEverySteps: a worker's share of the evaluation (or checkpoint)
// interval, between the heartbeats it sends at once so the coordinator
// hears of each boundary.
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

TEST(BeatEverySteps, IsTheSmallerShareOfEvaluationsAndCheckpoints) {
  v1::JobConfig config;
  config.mutable_train()->mutable_checkpoint()->set_every_steps(500);
  EXPECT_EQ(BeatEverySteps(config, 2), 250);  // checkpoints alone
  config.mutable_train()->set_eval_every_steps(2000);
  EXPECT_EQ(BeatEverySteps(config, 2), 250);
  config.mutable_train()->set_eval_every_steps(100);
  EXPECT_EQ(BeatEverySteps(config, 2), 50);
}

}  // namespace
}  // namespace descent
