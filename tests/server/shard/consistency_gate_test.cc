// The consistency gate through a ParameterShard, in-process: when each
// push's answer goes out under BSP (with and without backup workers) and
// SSP, what is applied, and what is dropped, refused or released on Close.
#include <memory>
#include <vector>

#include "common/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shard/gradient_sum.h"
#include "server/shard/parameter_shard.h"
#include "tests/server/shard/shard_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

using GateTest = GateFixture;

TEST_F(GateTest, BspAppliesTheWeightedMeanOnceAllWorkersPushed) {
  Make(v1::BSP, 3);
  Answer* a = Send(0, 0, 0, 1.0f, /*examples=*/1);
  Answer* b = Send(1, 0, 0, 2.0f, /*examples=*/1);
  EXPECT_EQ(a->calls + b->calls, 0);  // held: worker 2 has not pushed
  EXPECT_EQ(shard_->version(), 0);
  Answer* c = Send(2, 0, 0, 4.0f, /*examples=*/2);
  for (Answer* x : {a, b, c}) {
    ASSERT_EQ(x->calls, 1);
    EXPECT_TRUE(x->status.ok()) << x->status;
    EXPECT_EQ(x->response.version(), 1);
    // (1*1 + 1*2 + 2*4) / 4 = 2.75, one SGD step from 0.
    EXPECT_FLOAT_EQ(Param(*x), -kLearningRate * 2.75f);
  }
  EXPECT_EQ(shard_->version(), 1);
  for (const PushRecord& r : records_) EXPECT_EQ(r.staleness, 0);
}

// A federated worker none of whose clients reported pushes an empty push:
// it completes the step's barrier with weight 0.
TEST_F(GateTest, BspEmptyPushesCountForTheBarrierWithNoWeight) {
  Make(v1::BSP, 3);
  Answer* a = Send(0, 0, 0, 1.0f, /*examples=*/3);
  answers_.push_back(std::make_unique<Answer>());
  Answer* empty = answers_.back().get();
  empty->request = Request(1, 0, 0, 0.0f);
  empty->request.clear_gradient();
  empty->request.set_empty(true);
  shard_->PushPull(empty->request, &empty->response, [empty](absl::Status s) {
    empty->status = s;
    ++empty->calls;
  });
  EXPECT_EQ(a->calls + empty->calls, 0);  // worker 2 has not pushed
  Answer* c = Send(2, 0, 0, 5.0f, /*examples=*/1);
  for (Answer* x : {a, empty, c}) {
    ASSERT_EQ(x->calls, 1);
    EXPECT_TRUE(x->status.ok()) << x->status;
    EXPECT_EQ(x->response.version(), 1);
    // (3*1 + 1*5) / 4 = 2: the empty push weighs nothing.
    EXPECT_FLOAT_EQ(Param(*x), -kLearningRate * 2.0f);
  }
  // A step of only empty pushes applies nothing and still ends.
  std::vector<Answer*> step;
  for (int w = 0; w < 3; ++w) {
    answers_.push_back(std::make_unique<Answer>());
    Answer* e = answers_.back().get();
    e->request = Request(w, 1, 1, 0.0f);
    e->request.clear_gradient();
    e->request.set_empty(true);
    shard_->PushPull(e->request, &e->response, [e](absl::Status s) {
      e->status = s;
      ++e->calls;
    });
    step.push_back(e);
  }
  for (Answer* e : step) {
    ASSERT_EQ(e->calls, 1);
    EXPECT_TRUE(e->status.ok()) << e->status;
    EXPECT_EQ(e->response.version(), 2);
    EXPECT_FLOAT_EQ(Param(*e), -kLearningRate * 2.0f);
  }
}

// An empty push carries nothing, and only BSP has a barrier for it.
TEST_F(GateTest, EmptyPushesWithAGradientOrOutsideBspAreRefused) {
  Make(v1::BSP, 2);
  v1::PushRequest with_gradient = Request(0, 0, 0, 1.0f);
  with_gradient.set_empty(true);
  v1::PushPullResponse response;
  absl::Status refused = PushPullNow(*shard_, with_gradient, &response);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()),
              ::testing::HasSubstr("must carry no gradient"));
  Make(v1::ASP, 1);
  v1::PushRequest asp = Request(0, 0, 0, 0.0f);
  asp.clear_gradient();
  asp.set_empty(true);
  refused = PushPullNow(*shard_, asp, &response);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_EQ(shard_->version(), 0);
}

TEST_F(GateTest, BspAnswersSayHowLongTheGateHeldThem) {
  Make(v1::BSP, 3);
  Answer* a = Send(0, 0, 0, 1.0f);
  now_ += absl::Seconds(2);
  Answer* b = Send(1, 0, 0, 1.0f);
  now_ += absl::Milliseconds(500);
  Answer* c = Send(2, 0, 0, 1.0f);  // completes the step
  for (Answer* x : {a, b, c}) ASSERT_EQ(x->calls, 1);
  EXPECT_DOUBLE_EQ(a->response.held_seconds(), 2.5);
  EXPECT_DOUBLE_EQ(b->response.held_seconds(), 0.5);
  EXPECT_EQ(c->response.held_seconds(), 0.0);
  // The step's one update is recorded on the push that completed it.
  ASSERT_EQ(records_.size(), 3u);
  EXPECT_FALSE(records_[0].applied);
  EXPECT_FALSE(records_[1].applied);
  EXPECT_TRUE(records_[2].applied);
}

TEST_F(GateTest, PushAnswersSayHowLongTheyWereHeldToo) {
  Make(v1::BSP, 2);
  const v1::PushRequest request = Request(0, 0, 0, 1.0f);
  v1::PushResponse response;
  int calls = 0;
  shard_->Push(request, &response, [&](absl::Status) { ++calls; });
  now_ += absl::Seconds(3);
  Send(1, 0, 0, 1.0f);
  ASSERT_EQ(calls, 1);
  EXPECT_DOUBLE_EQ(response.held_seconds(), 3.0);
  EXPECT_EQ(response.version(), 1);
}

TEST_F(GateTest, BspBackupWorkersDropLateGradients) {
  Make(v1::BSP, 3, 0, /*backup=*/1);
  Answer* a = Send(0, 0, 0, 1.0f);
  EXPECT_EQ(a->calls, 0);
  Answer* b = Send(1, 0, 0, 3.0f);
  ASSERT_EQ(a->calls, 1);  // two of three complete the step
  ASSERT_EQ(b->calls, 1);
  EXPECT_FLOAT_EQ(Param(*a), -kLearningRate * 2.0f);
  // Worker 2's gradient for step 0 comes late: dropped, answered at once
  // with the current parameters, which it did not move.
  Answer* late = Send(2, 0, 0, 100.0f);
  ASSERT_EQ(late->calls, 1);
  EXPECT_TRUE(late->status.ok());
  EXPECT_FLOAT_EQ(Param(*late), -kLearningRate * 2.0f);
  EXPECT_EQ(shard_->version(), 1);
  ASSERT_EQ(records_.size(), 3u);
  EXPECT_TRUE(records_[2].dropped);
  EXPECT_EQ(records_[2].staleness, 1);
  // With fresh parameters it counts again.
  Send(2, 1, 1, 1.0f);
  Send(0, 1, 1, 1.0f);
  EXPECT_EQ(shard_->version(), 2);
}

TEST_F(GateTest, BspStopsWaitingForAWorkerAfterItsLastPush) {
  Make(v1::BSP, 2);
  Answer* a = Send(0, 0, 0, 1.0f);
  Answer* b = Send(1, 0, 0, 1.0f, 1, /*last=*/true);
  ASSERT_EQ(a->calls + b->calls, 2);
  Answer* alone = Send(0, 1, 1, 1.0f);  // worker 1 left: nobody to wait for
  ASSERT_EQ(alone->calls, 1);
  EXPECT_EQ(shard_->version(), 2);
}

TEST_F(GateTest, BspLastPushCanCompleteAStepOthersWaitOn) {
  Make(v1::BSP, 3, 0, /*backup=*/1);
  Answer* a = Send(0, 0, 0, 1.0f);
  // Worker 2 leaves with a late-looking push for a step... its leaving
  // makes one gradient (worker 0's) plus its own enough.
  Answer* b = Send(2, 0, 0, 1.0f, 1, /*last=*/true);
  ASSERT_EQ(a->calls, 1);
  ASSERT_EQ(b->calls, 1);
  EXPECT_EQ(shard_->version(), 1);
}

TEST_F(GateTest, BspRetriedPushCountsOnceAndBothCopiesAreAnswered) {
  Make(v1::BSP, 2);
  Answer* first = Send(0, 0, 0, 1.0f, 1, false, /*id=*/7);
  Answer* retry = Send(0, 0, 0, 1.0f, 1, false, /*id=*/7);
  EXPECT_EQ(first->calls + retry->calls, 0);
  EXPECT_EQ(shard_->version(), 0);  // the retry did not complete the step
  Send(1, 0, 0, 3.0f);
  ASSERT_EQ(first->calls, 1);
  ASSERT_EQ(retry->calls, 1);
  EXPECT_FLOAT_EQ(Param(*retry), -kLearningRate * 2.0f);
  EXPECT_TRUE(records_[1].duplicate);
}

TEST_F(GateTest, PushFromAFutureVersionIsRefusedAndChangesNothing) {
  Make(v1::BSP, 2);
  Answer* a = Send(0, 0, /*base=*/5, 1.0f);
  ASSERT_EQ(a->calls, 1);
  EXPECT_EQ(a->status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(a->status.message(), HasSubstr("base version 5 is ahead"));
  EXPECT_EQ(RejectReason(a->status), "future_version");
  EXPECT_TRUE(records_.empty());
  // Worker 0 did not count toward step 0.
  Send(1, 0, 0, 1.0f);
  EXPECT_EQ(shard_->version(), 0);
}

TEST_F(GateTest, SspHoldsAWorkerMoreThanStalenessStepsAhead) {
  Make(v1::SSP, 2, /*staleness=*/1);
  Answer* s0 = Send(0, 0, 0, 1.0f);
  ASSERT_EQ(s0->calls, 1);  // step 1 may follow while worker 1 is at 0
  Answer* s1 = Send(0, 1, 1, 1.0f);
  EXPECT_EQ(s1->calls, 0);          // step 2 would be 2 ahead of worker 1
  EXPECT_EQ(shard_->version(), 2);  // applied on arrival all the same
  now_ += absl::Seconds(1);
  Answer* w1 = Send(1, 0, 0, 1.0f);
  ASSERT_EQ(w1->calls, 1);
  ASSERT_EQ(s1->calls, 1);
  EXPECT_DOUBLE_EQ(s1->response.held_seconds(), 1.0);
  EXPECT_EQ(s0->response.held_seconds(), 0.0);
  EXPECT_EQ(Param(*s1), Param(*w1));  // released after worker 1's update
  EXPECT_EQ(shard_->version(), 3);
  EXPECT_EQ(records_[2].clock_lag, 1);  // worker 1's step 0 vs step 1
}

TEST_F(GateTest, SspReleasesWaitersWhenTheSlowWorkerLeaves) {
  Make(v1::SSP, 2, /*staleness=*/0);
  Answer* a = Send(0, 0, 0, 1.0f);
  EXPECT_EQ(a->calls, 0);
  Answer* b = Send(1, 0, 0, 1.0f, 1, /*last=*/true);
  ASSERT_EQ(a->calls, 1);
  ASSERT_EQ(b->calls, 1);
  Answer* c = Send(0, 1, 2, 1.0f);  // alone now
  EXPECT_EQ(c->calls, 1);
}

TEST_F(GateTest, AspAnswersAtOnceAndMeasuresStaleness) {
  Make(v1::ASP, 2);
  Send(0, 0, 0, 1.0f);
  Send(1, 0, 0, 1.0f);  // computed on version 0, applied at version 1
  Send(0, 1, 1, 1.0f);  // computed on 1, applied at 2
  ASSERT_EQ(records_.size(), 3u);
  EXPECT_EQ(records_[0].staleness, 0);
  EXPECT_EQ(records_[1].staleness, 1);
  EXPECT_EQ(records_[2].staleness, 1);
  for (const auto& a : answers_) {
    EXPECT_EQ(a->calls, 1);
    EXPECT_EQ(a->response.held_seconds(), 0.0);
  }
  for (const PushRecord& r : records_) EXPECT_TRUE(r.applied);
}

TEST_F(GateTest, CloseReleasesHeldAnswersAndRefusesLaterPushes) {
  Make(v1::BSP, 2);
  Answer* held = Send(0, 0, 0, 1.0f);
  EXPECT_EQ(held->calls, 0);
  shard_->Close();
  ASSERT_EQ(held->calls, 1);
  EXPECT_EQ(held->status.code(), absl::StatusCode::kUnavailable);
  Answer* after = Send(1, 0, 0, 1.0f);
  ASSERT_EQ(after->calls, 1);
  EXPECT_EQ(RejectReason(after->status), "closed");
  EXPECT_EQ(shard_->version(), 0);
}

TEST(GradientSumTest, WeightedMeanOfDenseSlicesAndRows) {
  GradientSum sum(/*begin=*/10, /*dense_size=*/2, /*row_width=*/2);
  auto push = [](std::vector<float> dense, std::vector<uint64_t> keys,
                 std::vector<float> rows) {
    v1::PushRequest r;
    r.mutable_gradient()->set_offset(10);
    EncodeFloats(dense.data(), dense.size(),
                 r.mutable_gradient()->mutable_values());
    for (uint64_t k : keys) r.mutable_row_gradients()->add_keys(k);
    r.mutable_row_gradients()->set_width(2);
    EncodeFloats(rows.data(), rows.size(),
                 r.mutable_row_gradients()->mutable_values());
    return r;
  };
  // The sum reads the pushes when it takes the mean: they must live on.
  const v1::PushRequest first = push({1, 2}, {9, 3}, {1, 1, 2, 2});
  const v1::PushRequest second = push({4, 8}, {3}, {5, 5});
  sum.Add(first, 1);
  sum.Add(second, 3);
  EXPECT_EQ(sum.contributors(), 2);
  sum.TakeMean();
  EXPECT_FLOAT_EQ(sum.dense()[0], (1 + 3 * 4) / 4.0f);
  EXPECT_FLOAT_EQ(sum.dense()[1], (2 + 3 * 8) / 4.0f);
  ASSERT_EQ(sum.keys(), (std::vector<uint64_t>{3, 9}));
  EXPECT_FLOAT_EQ(sum.row(0)[0], (2 + 3 * 5) / 4.0f);
  EXPECT_FLOAT_EQ(sum.row(1)[1], 1 / 4.0f);  // worker 2 did not touch key 9
  sum.Clear();
  EXPECT_EQ(sum.contributors(), 0);
  EXPECT_EQ(sum.dense()[0], 0.0f);
}

// Elastic membership: a joiner's id (at or past num_workers) is refused
// until the coordinator announces it, and under BSP it counts toward a
// step from its first push on.
TEST_F(GateTest, BspCountsAJoinerFromItsFirstPush) {
  Make(v1::BSP, 2, 0, 0, kSize, /*max_workers=*/4);
  Answer* early = Send(2, 0, 0, 1.0f);
  ASSERT_EQ(early->calls, 1);
  EXPECT_EQ(early->status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(early->status.message(), HasSubstr("not heard of it joining"));
  shard_->WorkerJoined(2);
  // A step of the two configured workers does not wait for it...
  Send(0, 0, 0, 1.0f);
  Send(1, 0, 0, 1.0f);
  EXPECT_EQ(shard_->version(), 1);
  // ...but once it has pushed, the next step does.
  Answer* joiner = Send(2, 5, 1, 1.0f);
  Answer* a = Send(0, 1, 1, 1.0f);
  Answer* b = Send(1, 1, 1, 1.0f);
  EXPECT_EQ(a->calls + b->calls + joiner->calls, 3);
  EXPECT_EQ(shard_->version(), 2);
  Answer* c = Send(0, 2, 2, 1.0f);
  Answer* d = Send(1, 2, 2, 1.0f);
  EXPECT_EQ(c->calls + d->calls, 0);  // held for the joiner
  Send(2, 6, 2, 1.0f, 1, /*last=*/true);
  EXPECT_EQ(shard_->version(), 3);
  EXPECT_EQ(c->calls + d->calls, 2);
}

}  // namespace
}  // namespace descent
