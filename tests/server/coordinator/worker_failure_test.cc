// The coordinator under each cluster.on_worker_failure policy: CONTINUE
// declares a silent worker lost and goes on without it, RESTART hands a
// dead worker's id, data shard and position to a new process, FAIL (in
// coordinator_test) ends the job. Time is the fake clock's.
#include <functional>
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator/coordinator.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class WorkerFailureTest : public ::testing::Test {
 protected:
  // 2 servers, 2 workers, 1000 examples (500 a worker), batches of 10,
  // 2 epochs (100 steps a worker); heartbeat timeout 10 s, registration
  // timeout 60 s.
  void Build(v1::WorkerFailurePolicy policy,
             v1::LostWorkerData data = v1::SPLIT) {
    CoordinatorOptions options;
    options.config.set_job_id("job-1");
    v1::ClusterConfig& cluster = *options.config.mutable_cluster();
    cluster.set_num_servers(2);
    cluster.set_num_workers(2);
    cluster.set_heartbeat_timeout_seconds(10);
    cluster.set_registration_timeout_seconds(60);
    cluster.set_lost_worker_data(data);
    cluster.set_max_workers(4);
    if (policy != v1::WORKER_FAILURE_POLICY_UNSPECIFIED) {
      cluster.set_on_worker_failure(policy);
    }
    options.config.mutable_train()->set_epochs(2);
    options.config.mutable_train()->set_batch_size(10);
    options.config.mutable_train()->set_eval_every_steps(100);
    options.num_parameters = 7;
    options.num_features = 3;
    options.train_examples = 1000;
    options.clock = [this] { return now_; };
    coordinator_ = std::make_unique<Coordinator>(std::move(options));
    for (int shard = 0; shard < 2; ++shard) {
      v1::RegisterServerRequest request;
      request.set_shard(shard);
      request.set_address("127.0.0.1:" + std::to_string(5000 + shard));
      ASSERT_TRUE(coordinator_->RegisterServer(request).ok());
    }
    for (int id = 0; id < 2; ++id) ASSERT_TRUE(Register(id, 10 + id).ok());
    ASSERT_EQ(coordinator_->state(), v1::RUNNING);
  }

  absl::StatusOr<v1::RegisterWorkerResponse> Register(int id,
                                                      uint64_t instance) {
    v1::RegisterWorkerRequest request;
    request.set_instance_id(instance);
    request.set_requested_id(id);
    return coordinator_->RegisterWorker(request);
  }

  // A worker's heartbeat: `steps` of 10 examples, loss 0.5 each of those
  // this process took (it started at `start_step`).
  absl::StatusOr<v1::HeartbeatResponse> BeatWorker(int id, int64_t steps,
                                                   int incarnation = 0,
                                                   bool done = false,
                                                   int64_t start_step = 0) {
    v1::HeartbeatRequest request;
    request.set_job_id("job-1");
    request.set_role(v1::WORKER);
    request.set_id(id);
    request.set_incarnation(incarnation);
    request.mutable_progress()->set_steps(steps);
    request.mutable_progress()->set_examples(steps * 10);
    request.mutable_progress()->set_loss_sum((steps - start_step) * 0.5);
    request.mutable_progress()->set_loss_count(steps - start_step);
    request.mutable_progress()->set_done(done);
    return coordinator_->Heartbeat(request);
  }

  // Worker `id` asks for its share of `epoch`.
  v1::DataShare AskShare(int id, int epoch) {
    v1::HeartbeatRequest ask;
    ask.set_job_id("job-1");
    ask.set_role(v1::WORKER);
    ask.set_id(id);
    ask.set_share_epoch(epoch);
    absl::StatusOr<v1::HeartbeatResponse> answer = coordinator_->Heartbeat(ask);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? answer->share() : v1::DataShare();
  }

  absl::StatusOr<v1::HeartbeatResponse> BeatServer(int shard) {
    v1::HeartbeatRequest request;
    request.set_job_id("job-1");
    request.set_role(v1::SERVER);
    request.set_id(shard);
    return coordinator_->Heartbeat(request);
  }

  // Moves the clock on by `seconds`, every member but worker 1 beating
  // each second, and ticks.
  void PassWithWorker1Silent(int seconds, int64_t worker0_steps = 5) {
    for (int i = 0; i < seconds; ++i) {
      now_ += absl::Seconds(1);
      ASSERT_TRUE(BeatServer(0).ok());
      ASSERT_TRUE(BeatServer(1).ok());
      ASSERT_TRUE(BeatWorker(0, worker0_steps).ok());
      coordinator_->Tick();
    }
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(WorkerFailureTest, WithoutALauncherThePolicyIsContinue) {
  Build(v1::WORKER_FAILURE_POLICY_UNSPECIFIED);
  EXPECT_EQ(Register(0, 10)->config().cluster().on_worker_failure(),
            v1::CONTINUE);
}

TEST_F(WorkerFailureTest, ContinueDeclaresASilentWorkerLostAndGoesOn) {
  Build(v1::CONTINUE);
  ASSERT_TRUE(BeatWorker(1, 30).ok());  // 300 of its 1000 examples
  PassWithWorker1Silent(10);
  EXPECT_TRUE(BeatServer(0)->lost_workers().empty());  // 10 s: not yet
  PassWithWorker1Silent(1);
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
  EXPECT_THAT(BeatServer(0)->lost_workers(), ElementsAre(1));
  // The lost process is told so, and its id is not handed out again.
  const absl::Status refused = BeatWorker(1, 31).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("declared lost"));
  EXPECT_EQ(Register(1, 99).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // SPLIT: worker 0 trains all of epoch 1 (100 steps more than its 50 of
  // epoch 0), and is not done before.
  EXPECT_EQ(BeatWorker(0, 100, 0, /*done=*/true).status().code(),
            absl::StatusCode::kInvalidArgument);
  const v1::DataShare share = AskShare(0, 1);
  EXPECT_TRUE(share.ready());
  EXPECT_EQ(share.begin(), 0);
  EXPECT_EQ(share.end(), 1000);
  // The job ends when the live worker is done.
  EXPECT_FALSE(coordinator_->AllWorkersDone());
  ASSERT_TRUE(BeatWorker(0, 150, 0, /*done=*/true).ok());
  EXPECT_TRUE(coordinator_->AllWorkersDone());
  const v1::JobSummary summary = coordinator_->Summary();
  EXPECT_EQ(summary.workers_lost(), 1);
  // Only the rest of the epoch it was lost in.
  EXPECT_EQ(summary.examples_skipped(), 500 - 300);
  EXPECT_FALSE(summary.has_worker_restarts());
}

// Elastic membership: a worker that registers once the job runs joins it
// with the next id, trains from the next epoch on (once every shard knows
// it), and that epoch is split three ways.
TEST_F(WorkerFailureTest, AWorkerJoinsTheRunningJobFromTheNextEpoch) {
  Build(v1::CONTINUE);
  EXPECT_EQ(AskShare(0, 0).end(), 500);
  ASSERT_TRUE(BeatWorker(0, 20).ok());
  ASSERT_TRUE(BeatWorker(1, 30).ok());
  v1::RegisterWorkerRequest join;
  join.set_instance_id(77);
  const absl::StatusOr<v1::RegisterWorkerResponse> joined =
      coordinator_->RegisterWorker(join);
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(joined->worker_id(), 2);
  EXPECT_EQ(joined->first_epoch(), 1);
  EXPECT_EQ(joined->num_data_shards(), 2);  // the configured workers
  EXPECT_EQ(joined->clock_offset(), 20);  // the slowest worker's clock
  // Not before every shard has heard of it.
  EXPECT_FALSE(AskShare(2, 1).ready());
  now_ += absl::Milliseconds(200);
  EXPECT_THAT(BeatServer(0)->joined_workers(), ElementsAre(2));
  ASSERT_TRUE(BeatServer(1).ok());
  now_ += absl::Milliseconds(200);
  ASSERT_TRUE(BeatServer(0).ok());
  ASSERT_TRUE(BeatServer(1).ok());
  const v1::DataShare share = AskShare(2, 1);
  ASSERT_TRUE(share.ready());
  EXPECT_EQ(share.end() - share.begin(), 333);
  EXPECT_TRUE(AskShare(2, 0).none());  // before it joined
  EXPECT_EQ(AskShare(0, 1).end(), 334);
  // Epoch 1 is the last and is handed out: nothing is left to join for.
  join.set_instance_id(78);
  const absl::Status late = coordinator_->RegisterWorker(join).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.message(), HasSubstr("last epoch"));
  // A --worker_id past the configured ones is not a way in.
  const absl::Status named = Register(3, 79).status();
  EXPECT_EQ(named.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(named.message(), HasSubstr("without --worker_id"));
  // The job waits for the joiner too.
  for (int id : {0, 1}) {
    v1::HeartbeatRequest done;
    done.set_job_id("job-1");
    done.set_role(v1::WORKER);
    done.set_id(id);
    done.mutable_progress()->set_steps(50 + 34);  // 500 + 333 or 334
    done.mutable_progress()->set_examples(id == 0 ? 834 : 833);
    done.mutable_progress()->set_loss_count(50);
    done.mutable_progress()->set_done(true);
    const absl::Status beat = coordinator_->Heartbeat(done).status();
    ASSERT_TRUE(beat.ok()) << beat;
  }
  EXPECT_FALSE(coordinator_->AllWorkersDone());
  EXPECT_EQ(coordinator_->Summary().workers_joined(), 1);
}

TEST_F(WorkerFailureTest, DropSkipsALostWorkersPartOfEveryEpoch) {
  Build(v1::CONTINUE, v1::DROP);
  ASSERT_TRUE(BeatWorker(1, 30).ok());  // 300 of its 1000 examples
  PassWithWorker1Silent(11);
  EXPECT_THAT(BeatServer(0)->lost_workers(), ElementsAre(1));
  const v1::DataShare share = AskShare(0, 1);
  EXPECT_EQ(share.begin(), 0);
  EXPECT_EQ(share.end(), 500);  // its own part, as in epoch 0
  ASSERT_TRUE(BeatWorker(0, 100, 0, /*done=*/true).ok());
  EXPECT_TRUE(coordinator_->AllWorkersDone());
  EXPECT_EQ(coordinator_->Summary().examples_skipped(), 1000 - 300);
}

TEST_F(WorkerFailureTest, ContinueFailsOnceEveryWorkerIsLost) {
  Build(v1::CONTINUE);
  now_ += absl::Seconds(11);
  ASSERT_TRUE(BeatServer(0).ok());
  ASSERT_TRUE(BeatServer(1).ok());
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_EQ(coordinator_->exit_code(), kExitPeerLost);
  EXPECT_THAT(coordinator_->Status().error(), HasSubstr("every worker"));
}

TEST_F(WorkerFailureTest, RestartHandsTheIdToANewProcessOnceTheOldIsSilent) {
  Build(v1::RESTART);
  ASSERT_TRUE(BeatWorker(1, 7).ok());
  // Too soon: the holder was heard from just now. Retry (UNAVAILABLE).
  EXPECT_EQ(Register(1, 99).status().code(), absl::StatusCode::kUnavailable);
  PassWithWorker1Silent(2);
  absl::StatusOr<v1::RegisterWorkerResponse> replacement = Register(1, 99);
  ASSERT_TRUE(replacement.ok()) << replacement.status();
  EXPECT_EQ(replacement->worker_id(), 1);
  EXPECT_EQ(replacement->data_shard(), 1);
  EXPECT_EQ(replacement->incarnation(), 1);
  EXPECT_EQ(replacement->start_step(), 7);
  EXPECT_EQ(Register(1, 99)->incarnation(), 1);  // its retry: the same
  // The old process, if it wakes, is told it was replaced.
  const absl::Status old = BeatWorker(1, 8, /*incarnation=*/0).status();
  EXPECT_EQ(old.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(old.message(), HasSubstr("replaced by incarnation 1"));
  // The new one reports from the dead one's steps on.
  ASSERT_TRUE(BeatWorker(1, 9, /*incarnation=*/1, /*done=*/false,
                         /*start_step=*/7)
                  .ok());
  EXPECT_EQ(coordinator_->Status().global_step(), 5 + 9);
  EXPECT_EQ(coordinator_->Summary().worker_restarts(), 1);
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
}

// A worker killed after its epochs (waiting for the others) is restarted
// too; the new process has no step left.
TEST_F(WorkerFailureTest, RestartReplacesAWorkerThatHadFinished) {
  Build(v1::RESTART);
  ASSERT_TRUE(BeatWorker(1, 100, 0, /*done=*/true).ok());
  PassWithWorker1Silent(2);
  absl::StatusOr<v1::RegisterWorkerResponse> replacement = Register(1, 99);
  ASSERT_TRUE(replacement.ok()) << replacement.status();
  EXPECT_EQ(replacement->start_step(), 100);
  EXPECT_EQ(replacement->incarnation(), 1);
}

TEST_F(WorkerFailureTest, RestartWaitsForAReplacementThenFails) {
  Build(v1::RESTART);
  PassWithWorker1Silent(11);
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);  // lost, awaiting one
  PassWithWorker1Silent(60);
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
  PassWithWorker1Silent(1);
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_EQ(coordinator_->exit_code(), kExitPeerLost);
  EXPECT_THAT(coordinator_->Status().error(),
              HasSubstr("no process replaced it"));
}

TEST_F(WorkerFailureTest, AWorkerThatWasOnlySlowComesBackUnderRestart) {
  Build(v1::RESTART);
  PassWithWorker1Silent(11);
  ASSERT_TRUE(BeatWorker(1, 3).ok());  // SIGCONT before any replacement
  PassWithWorker1Silent(65);           // ... and silent again, but not
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);  // for 60 s since then
}

TEST_F(WorkerFailureTest, ALiveWorkersIdIsNotHandedOut) {
  for (v1::WorkerFailurePolicy policy : {v1::CONTINUE, v1::FAIL}) {
    Build(policy);
    PassWithWorker1Silent(5);
    const absl::Status taken = Register(1, 99).status();
    EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
    EXPECT_THAT(taken.message(), HasSubstr("held by another process"));
  }
}

// A drained worker (HeartbeatRequest.leaving: SIGTERM) leaves for good under
// every policy, RESTART included: the shards stop waiting for it, its id is
// not handed out again, its silence fails nothing, the job ends when the
// others are done, and the summary counts it as drained, not lost.
TEST_F(WorkerFailureTest, ADrainedWorkerLeavesUnderEveryPolicy) {
  for (v1::WorkerFailurePolicy policy : {v1::RESTART, v1::CONTINUE, v1::FAIL}) {
    SCOPED_TRACE(v1::WorkerFailurePolicy_Name(policy));
    Build(policy);
    v1::HeartbeatRequest leaving;
    leaving.set_job_id("job-1");
    leaving.set_role(v1::WORKER);
    leaving.set_id(1);
    leaving.mutable_progress()->set_steps(30);
    leaving.mutable_progress()->set_examples(300);
    leaving.set_leaving(true);
    ASSERT_TRUE(coordinator_->Heartbeat(leaving).ok());
    EXPECT_THAT(BeatServer(0)->lost_workers(), ElementsAre(1));
    const absl::Status taken = Register(1, 99).status();
    EXPECT_EQ(taken.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(taken.message(), HasSubstr("was drained"));
    PassWithWorker1Silent(120);  // past heartbeat and registration timeouts
    EXPECT_EQ(coordinator_->state(), v1::RUNNING);
    EXPECT_FALSE(coordinator_->AllWorkersDone());
    // SPLIT: epoch 1 is all worker 0's.
    ASSERT_TRUE(BeatWorker(0, 150, 0, /*done=*/true).ok());
    EXPECT_TRUE(coordinator_->AllWorkersDone());
    const v1::JobSummary summary = coordinator_->Summary();
    EXPECT_EQ(summary.workers_drained(), 1);
    EXPECT_FALSE(summary.has_workers_lost());
    EXPECT_EQ(summary.examples_skipped(), 500 - 300);
  }
}

TEST_F(WorkerFailureTest, TheJobFailsWhenEveryWorkerHasLeft) {
  Build(v1::RESTART);
  for (int id = 0; id < 2; ++id) {
    v1::HeartbeatRequest leaving;
    leaving.set_job_id("job-1");
    leaving.set_role(v1::WORKER);
    leaving.set_id(id);
    leaving.set_leaving(true);
    ASSERT_TRUE(coordinator_->Heartbeat(leaving).ok());
  }
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_THAT(coordinator_->Status().error(), HasSubstr("every worker left"));
}

// One worker drained and the other lost (CONTINUE): nobody is left to
// train, so the job fails rather than ending SUCCEEDED untrained.
TEST_F(WorkerFailureTest, ADrainedAndALostWorkerLeaveNobodyToTrain) {
  Build(v1::CONTINUE);
  v1::HeartbeatRequest leaving;
  leaving.set_job_id("job-1");
  leaving.set_role(v1::WORKER);
  leaving.set_id(0);
  leaving.set_leaving(true);
  ASSERT_TRUE(coordinator_->Heartbeat(leaving).ok());
  ASSERT_EQ(coordinator_->state(), v1::RUNNING);
  now_ += absl::Seconds(11);  // worker 1 silent past the timeout
  ASSERT_TRUE(BeatServer(0).ok());
  ASSERT_TRUE(BeatServer(1).ok());
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_EQ(coordinator_->exit_code(), kExitPeerLost);
  EXPECT_THAT(coordinator_->Status().error(),
              HasSubstr("every worker left or was lost; last: worker 1"));
  // Epoch 0's split; epoch 1's was never handed out.
  EXPECT_EQ(coordinator_->Summary().examples_skipped(), 1000);
}

}  // namespace
}  // namespace descent
