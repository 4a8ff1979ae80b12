// A ParameterShard when workers die (cluster.on_worker_failure): a worker
// declared lost is no longer waited for and its pushes are refused; a
// restarted worker (a later incarnation) supersedes the dead one, and
// repeating a step its predecessor had already pushed adds nothing twice.
#include <vector>

#include "gtest/gtest.h"
#include "server/shard/parameter_shard.h"
#include "tests/server/shard/shard_testing.h"

namespace descent {
namespace {

class ShardFailureTest : public GateFixture {};

TEST_F(ShardFailureTest, BspStopsWaitingForALostWorker) {
  Make(v1::BSP, 3);
  Answer* a = Send(0, 0, 0, 1.0f);
  Answer* b = Send(1, 0, 0, 1.0f);
  EXPECT_EQ(a->calls, 0);  // waiting for worker 2
  shard_->WorkerLost(2);
  ASSERT_EQ(a->calls, 1);
  ASSERT_EQ(b->calls, 1);
  EXPECT_EQ(a->response.version(), 1);
  EXPECT_FLOAT_EQ(Param(*a), -kLearningRate);  // the mean of the two
  // The next step needs only the two live workers.
  Answer* c = Send(0, 1, 1, 1.0f);
  Answer* d = Send(1, 1, 1, 1.0f);
  EXPECT_EQ(c->calls, 1);
  EXPECT_EQ(d->calls, 1);
  EXPECT_EQ(shard_->version(), 2);
}

TEST_F(ShardFailureTest, ALostWorkersGradientAlreadyInTheStepStillCounts) {
  Make(v1::BSP, 2);
  Answer* lost = Send(1, 0, 0, 3.0f);
  shard_->WorkerLost(1);  // its step-0 gradient is in the sum
  EXPECT_EQ(lost->calls, 0);
  EXPECT_EQ(shard_->version(), 0);  // worker 0 has not pushed step 0 yet
  Answer* live = Send(0, 0, 0, 1.0f);
  ASSERT_EQ(live->calls, 1);
  EXPECT_EQ(live->response.version(), 1);
  EXPECT_FLOAT_EQ(Param(*live), -kLearningRate * 2.0f);  // mean of 1 and 3
  Answer* alone = Send(0, 1, 1, 1.0f);  // then worker 0 goes on alone
  EXPECT_EQ(alone->calls, 1);
  EXPECT_EQ(shard_->version(), 2);
}

TEST_F(ShardFailureTest, ALostWorkersLaterPushesAreRefusedAndChangeNothing) {
  for (v1::Consistency consistency : {v1::ASP, v1::SSP, v1::BSP}) {
    SCOPED_TRACE(v1::Consistency_Name(consistency));
    answers_.clear();
    Make(consistency, 2);
    shard_->WorkerLost(1);
    Answer* late = Send(1, 0, 0, 1.0f);
    ASSERT_EQ(late->calls, 1);
    EXPECT_EQ(late->status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(late->status.message().find("declared lost"),
              absl::string_view::npos);
    EXPECT_EQ(shard_->version(), 0);
    EXPECT_EQ(shard_->Snapshot(), std::vector<float>(kSize, 0.0f));
    Answer* live = Send(0, 0, 0, 1.0f);  // nobody waits for worker 1
    EXPECT_EQ(live->calls, 1);
    EXPECT_EQ(shard_->version(), 1);
  }
}

TEST_F(ShardFailureTest, AnEarlierIncarnationIsRefusedOnceALaterOnePushed) {
  Make(v1::ASP, 2);
  v1::PushRequest restarted = Request(1, 5, 0, 1.0f);
  restarted.mutable_header()->set_incarnation(1);
  v1::PushPullResponse response;
  ASSERT_TRUE(PushPullNow(*shard_, restarted, &response).ok());
  EXPECT_EQ(shard_->version(), 1);
  // The dead one's process was only stopped; it wakes and pushes again.
  const v1::PushRequest stale = Request(1, 9, 1, 1.0f);  // incarnation 0
  const absl::Status refused = PushPullNow(*shard_, stale, &response);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("replaced by incarnation 1"),
            absl::string_view::npos);
  EXPECT_EQ(shard_->version(), 1);
}

// A restarted worker starts at the steps its predecessor reported, which
// may lag what it pushed: its repeat of a step whose gradient the dead one
// already gave is dropped (answered once the step is applied), so the step
// is the mean of one gradient per worker.
TEST_F(ShardFailureTest, BspCountsOneGradientPerWorkerAStep) {
  Make(v1::BSP, 2);
  Answer* dead = Send(1, 0, 0, 3.0f);     // the process dies with this held
  Answer* again = Send(1, 0, 0, 100.0f);  // its replacement, same step
  EXPECT_EQ(dead->calls, 0);
  EXPECT_EQ(again->calls, 0);
  EXPECT_EQ(shard_->version(), 0);  // worker 0 has still not pushed
  Answer* live = Send(0, 0, 0, 1.0f);
  ASSERT_EQ(live->calls, 1);
  ASSERT_EQ(again->calls, 1);
  EXPECT_TRUE(again->status.ok());
  EXPECT_EQ(again->response.version(), 1);
  EXPECT_FLOAT_EQ(Param(*live), -kLearningRate * 2.0f);  // mean of 1 and 3
}

TEST_F(ShardFailureTest, LosingAnUnknownOrAlreadyLostWorkerChangesNothing) {
  Make(v1::BSP, 2);
  shard_->WorkerLost(7);
  shard_->WorkerLost(-1);
  shard_->WorkerLost(1);
  shard_->WorkerLost(1);
  Answer* a = Send(0, 0, 0, 1.0f);
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(shard_->version(), 1);
}

}  // namespace
}  // namespace descent
