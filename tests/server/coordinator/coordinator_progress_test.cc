// Progress reports and the other fields the coordinator's handlers take are
// checked against what the coordinator knows (progress_bounds.h): a report
// that breaks a bound is refused with INVALID_ARGUMENT naming the field and
// the bound, counted, and changes nothing; a forged "done" never ends the
// job SUCCEEDED.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator/coordinator.h"
#include "server/coordinator/progress_bounds.h"
#include "tests/server/coordinator/progress_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

// 1000 examples over 2 workers, batch 10, 2 epochs: 100 steps and 1000
// examples a worker.
class CoordinatorProgressTest : public ::testing::Test {
 protected:
  CoordinatorProgressTest() {
    CoordinatorOptions options;
    options.config.set_job_id("job-1");
    options.config.mutable_cluster()->set_num_servers(2);
    options.config.mutable_cluster()->set_num_workers(2);
    options.config.mutable_train()->set_epochs(2);
    options.config.mutable_train()->set_batch_size(10);
    options.config.mutable_train()->set_consistency(v1::ASP);
    options.config.mutable_train()->set_eval_every_steps(1000);
    options.num_parameters = 7;
    options.train_examples = 1000;
    options.clock = [this] { return now_; };
    coordinator_ = std::make_unique<Coordinator>(std::move(options));
    for (int s = 0; s < 2; ++s) {
      v1::RegisterServerRequest server;
      server.set_shard(s);
      server.set_address("127.0.0.1:" + std::to_string(5000 + s));
      EXPECT_TRUE(coordinator_->RegisterServer(server).ok());
    }
    for (int w = 0; w < 2; ++w) {
      v1::RegisterWorkerRequest worker;
      worker.set_instance_id(11 + w);
      EXPECT_TRUE(coordinator_->RegisterWorker(worker).ok());
    }
  }

  absl::Status Report(int worker, const v1::WorkerProgress& progress) {
    v1::HeartbeatRequest request;
    request.set_job_id("job-1");
    request.set_role(v1::WORKER);
    request.set_id(worker);
    *request.mutable_progress() = progress;
    return coordinator_->Heartbeat(request).status();
  }

  absl::Status ServerVersion(int shard, int64_t version) {
    v1::HeartbeatRequest request;
    request.set_job_id("job-1");
    request.set_role(v1::SERVER);
    request.set_id(shard);
    request.set_version(version);
    return coordinator_->Heartbeat(request).status();
  }

  // Expects `status` to refuse with INVALID_ARGUMENT saying `says`, and the
  // job's progress to be as before.
  void ExpectRefused(const absl::Status& status, const std::string& says,
                     int64_t global_step) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(says));
    EXPECT_EQ(coordinator_->Status().global_step(), global_step);
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorProgressTest, StepsBeyondTheShardAndEpochsAreRefused) {
  ExpectRefused(Report(0, StepsOfProgress(2'000'000'000)),
                "worker 0: progress.steps 2000000000 exceeds 100", 0);
  ASSERT_TRUE(Report(0, StepsOfProgress(100)).ok());  // the bound itself
  EXPECT_EQ(coordinator_->Status().global_step(), 100);
  EXPECT_EQ(coordinator_->progress_refused(), 1);
}

TEST_F(CoordinatorProgressTest, ExamplesBeyondTheShardOrTheStepsAreRefused) {
  v1::WorkerProgress p = StepsOfProgress(10);
  p.set_examples(1001);
  ExpectRefused(Report(1, p), "progress.examples 1001 exceeds 1000", 0);
  p.set_examples(101);  // 10 steps of at most 10
  ExpectRefused(Report(1, p), "grew by more than its 10 new steps", 0);
  p.set_examples(100);
  p.set_loss_count(11);
  ExpectRefused(Report(1, p), "progress.loss_count 11 exceeds 10", 0);
  EXPECT_EQ(coordinator_->Status().examples(), 0);
  EXPECT_EQ(coordinator_->progress_refused(), 3);
}

TEST_F(CoordinatorProgressTest, ProgressGoingBackIsRefused) {
  ASSERT_TRUE(Report(0, StepsOfProgress(40)).ok());
  ExpectRefused(Report(0, StepsOfProgress(30)),
                "progress.steps 30 is below the 40 reported before", 40);
  EXPECT_TRUE(Report(0, StepsOfProgress(40)).ok());  // a retry is harmless
  EXPECT_EQ(coordinator_->progress_refused(), 1);
}

TEST_F(CoordinatorProgressTest, DoneBeforeItsStepsIsRefused) {
  // The tester's case: "done" after 0.3 epochs.
  ExpectRefused(Report(0, StepsOfProgress(30, 0.5, 0, 0, /*done=*/true)),
                "progress.steps 30 with done: a worker is done after all its "
                "100 steps",
                0);
  ASSERT_TRUE(Report(1, StepsOfProgress(100, 0.5, 0, 0, true)).ok());
  EXPECT_FALSE(coordinator_->AllWorkersDone());
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
}

TEST_F(CoordinatorProgressTest, DoneThatTheShardsNeverSawFailsTheJob) {
  // Both workers claim all their steps at once; the shards applied 60
  // pushes, not the 200 that ASP takes.
  for (int w = 0; w < 2; ++w) {
    ASSERT_TRUE(Report(w, StepsOfProgress(100, 0.5, 0, 0, true)).ok());
  }
  ASSERT_TRUE(coordinator_->AllWorkersDone());
  v1::Evaluation final_evaluation = coordinator_->BeginEvaluation(true);
  final_evaluation.set_parameter_version(60);
  coordinator_->RecordEvaluation(final_evaluation);
  coordinator_->Succeed();
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_EQ(coordinator_->exit_code(), kExitJobFailed);
  EXPECT_THAT(coordinator_->Status().error(),
              HasSubstr("the shards applied 60 updates"));
}

TEST_F(CoordinatorProgressTest, DoneThatTheShardsConfirmSucceeds) {
  for (int w = 0; w < 2; ++w) {
    ASSERT_TRUE(Report(w, StepsOfProgress(100, 0.5, 0, 0, true)).ok());
  }
  v1::Evaluation final_evaluation = coordinator_->BeginEvaluation(true);
  final_evaluation.set_parameter_version(200);
  coordinator_->RecordEvaluation(final_evaluation);
  coordinator_->Succeed();
  EXPECT_EQ(coordinator_->state(), v1::SUCCEEDED);
}

TEST_F(CoordinatorProgressTest, OtherProgressFieldsAreRangeChecked) {
  v1::WorkerProgress p = StepsOfProgress(10);
  p.add_gradient_norm_layers("extra");  // 3 layers, 2 sums
  ExpectRefused(Report(0, p), "progress.gradient_norm_sums 2", 0);
  p = StepsOfProgress(10);
  p.set_divergence(std::string(5000, 'x'));
  ExpectRefused(Report(0, p), "progress.divergence 5000 (bytes) exceeds", 0);
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
  p = StepsOfProgress(10);
  p.set_gradient_norm_count(101);
  ExpectRefused(Report(0, p), "progress.gradient_norm_count 101 exceeds 100",
                0);
  p = StepsOfProgress(10);
  p.set_bytes_pushed(-1);
  ExpectRefused(Report(0, p), "progress.bytes_pushed -1 is negative", 0);
}

TEST(UpdatesWhenDoneTest, LocalSgdPushesOnceEveryHSteps) {
  // Two ASP workers of 10 and 7 steps, the second resumed at step 3.
  EXPECT_EQ(UpdatesWhenDone(v1::ASP, {10, 7}, {0, 3}), 14);
  EXPECT_EQ(UpdatesWhenDone(v1::ASP, {10, 7}, {0, 3}, 4), 2 + 1);
  EXPECT_EQ(UpdatesWhenDone(v1::BSP, {10, 7}, {0, 3}), 10);
}

TEST_F(CoordinatorProgressTest, ServerVersionsAreRangeChecked) {
  ASSERT_TRUE(ServerVersion(0, 50).ok());
  ExpectRefused(ServerVersion(0, 40),
                "server 0: version 40 is below the 50 it reported before", 0);
  ExpectRefused(ServerVersion(1, -1), "server 1: version -1 is negative", 0);
  EXPECT_EQ(coordinator_->ShardVersions(), (std::vector<int64_t>{50, 0}));
}

TEST_F(CoordinatorProgressTest, HeartbeatRolesAndIdsAreRangeChecked) {
  v1::HeartbeatRequest request;
  request.set_job_id("job-1");
  request.set_role(v1::COORDINATOR);
  EXPECT_EQ(coordinator_->Heartbeat(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_role(v1::WORKER);
  request.set_id(-3);
  const absl::Status status = coordinator_->Heartbeat(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("worker id -3"));
}

// A job of 1 server and 1 worker, 3 parameters, 10 examples.
CoordinatorOptions OneOfEach() {
  CoordinatorOptions options;
  options.config.set_job_id("job-1");
  options.config.mutable_cluster()->set_num_servers(1);
  options.config.mutable_cluster()->set_num_workers(1);
  options.num_parameters = 3;
  options.train_examples = 10;
  return options;
}

TEST(CoordinatorRegistrationTest, AddressesAndPidsAreRangeChecked) {
  Coordinator coordinator(OneOfEach());
  v1::RegisterServerRequest server;
  server.set_shard(0);
  server.set_address("127.0.0.1:183400");
  absl::Status status = coordinator.RegisterServer(server).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("address"));
  server.set_address("127.0.0.1:7000");
  server.set_metrics_address("nowhere");
  EXPECT_EQ(coordinator.RegisterServer(server).status().code(),
            absl::StatusCode::kInvalidArgument);
  server.set_metrics_address("127.0.0.1:7001");
  server.set_pid(-5);
  status = coordinator.RegisterServer(server).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("pid -5"));
  v1::RegisterWorkerRequest worker;
  worker.set_instance_id(1);
  worker.set_metrics_address("127.0.0.1:99999");
  EXPECT_EQ(coordinator.RegisterWorker(worker).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(coordinator.state(), v1::REGISTERING);
  EXPECT_TRUE(coordinator.Status().members_size() <= 1);  // itself only
}

TEST(CoordinatorRegistrationTest, ALocalSocketIsCheckedAndReachesTheShardMap) {
  Coordinator coordinator(OneOfEach());
  v1::RegisterServerRequest server;
  server.set_shard(0);
  server.set_address("127.0.0.1:7000");
  for (const std::string bad :
       {std::string("has/slash"), std::string("with space"),
        std::string(1, '\0') + "nul", std::string(101, 'a')}) {
    server.set_local_socket(bad);
    const absl::Status status = coordinator.RegisterServer(server).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("server 0: local_socket is not 1 to 100 of"));
  }
  EXPECT_TRUE(coordinator.Status().members_size() <= 1);  // nobody joined
  server.set_local_socket("descent-42-00ff00ff00ff00ff");
  ASSERT_TRUE(coordinator.RegisterServer(server).ok());
  const v1::JobStatus status = coordinator.Status();
  ASSERT_EQ(status.shards_size(), 1);
  EXPECT_EQ(status.shards(0).local_socket(), "descent-42-00ff00ff00ff00ff");
}

}  // namespace
}  // namespace descent

namespace descent {
namespace {

// A federated job of 5 rounds over 2 workers: the recorder's round records
// are recorded once each, acknowledged in the answer, and hostile ones are
// refused naming the round.
class FederatedRoundsTest : public ::testing::Test {
 protected:
  FederatedRoundsTest() {
    CoordinatorOptions options;
    options.config.set_job_id("job-1");
    options.config.mutable_cluster()->set_num_servers(1);
    options.config.mutable_cluster()->set_num_workers(2);
    options.config.mutable_train()->set_consistency(v1::BSP);
    options.config.mutable_train()->set_eval_every_steps(0);
    v1::FederatedConfig* f = options.config.mutable_federated();
    f->set_clients(10);
    f->set_rounds(5);
    f->set_max_round_attempts(3);
    options.num_parameters = 7;
    options.train_examples = 100;
    coordinator_ = std::make_unique<Coordinator>(std::move(options));
    v1::RegisterServerRequest server;
    server.set_address("127.0.0.1:5000");
    EXPECT_TRUE(coordinator_->RegisterServer(server).ok());
    for (int w = 0; w < 2; ++w) {
      v1::RegisterWorkerRequest worker;
      worker.set_instance_id(11 + w);
      EXPECT_TRUE(coordinator_->RegisterWorker(worker).ok());
    }
  }

  absl::StatusOr<v1::HeartbeatResponse> Report(
      int worker, int64_t steps, const std::vector<int64_t>& rounds) {
    v1::HeartbeatRequest request;
    request.set_job_id("job-1");
    request.set_role(v1::WORKER);
    request.set_id(worker);
    v1::WorkerProgress* p = request.mutable_progress();
    p->set_steps(steps);
    p->set_examples(steps * 10);
    for (int64_t r : rounds) {
      v1::FederatedRound* round = p->add_rounds();
      round->set_round(r);
      round->set_attempts(1);
      round->set_sampled(1);
      round->set_participants(1);
      round->set_examples(10);
      round->set_test_accuracy(0.5);
    }
    return coordinator_->Heartbeat(request);
  }

  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(FederatedRoundsTest, RecordsEachRoundOnceAndAcknowledgesIt) {
  absl::StatusOr<v1::HeartbeatResponse> a = Report(0, 2, {0, 1});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->rounds_recorded(), 2);
  // Sent again with a new one (the answer was lost): kept once.
  absl::StatusOr<v1::HeartbeatResponse> b = Report(0, 3, {1, 2});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->rounds_recorded(), 3);
  const std::vector<v1::FederatedRound> rounds = coordinator_->Rounds();
  ASSERT_EQ(rounds.size(), 3u);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(rounds[r].round(), r);
}

// Worker 0 records until it leaves; then worker 1, the lowest left, is
// named the recorder and its records count. A non-recorder's are ignored.
TEST_F(FederatedRoundsTest, TheLowestWorkerLeftIsTheRecorder) {
  absl::StatusOr<v1::HeartbeatResponse> other = Report(1, 1, {0});
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->recorder(), 0);
  EXPECT_EQ(other->rounds_recorded(), 0);
  EXPECT_TRUE(coordinator_->Rounds().empty());
  ASSERT_TRUE(Report(0, 2, {0, 1}).ok());
  v1::HeartbeatRequest leave;
  leave.set_job_id("job-1");
  leave.set_role(v1::WORKER);
  leave.set_id(0);
  leave.set_leaving(true);
  ASSERT_TRUE(coordinator_->Heartbeat(leave).ok());
  absl::StatusOr<v1::HeartbeatResponse> next = Report(1, 4, {3});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->recorder(), 1);
  EXPECT_EQ(next->rounds_recorded(), 4);
  const std::vector<v1::FederatedRound> rounds = coordinator_->Rounds();
  ASSERT_EQ(rounds.size(), 3u);  // round 2 was never sent: a gap
  EXPECT_EQ(rounds[2].round(), 3);
}

TEST_F(FederatedRoundsTest, RefusesRecordsThatCannotBeRight) {
  // Out of order, past the job's rounds, past the worker's steps.
  for (const std::vector<int64_t>& rounds :
       std::vector<std::vector<int64_t>>{{1, 0}, {5}, {-1}, {3}}) {
    absl::StatusOr<v1::HeartbeatResponse> bad = Report(0, 1, rounds);
    EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << rounds[0];
    EXPECT_THAT(std::string(bad.status().message()),
                HasSubstr("worker 0: progress.rounds (round"));
  }
  // A non-finite or out-of-range figure.
  v1::HeartbeatRequest request;
  request.set_job_id("job-1");
  request.set_role(v1::WORKER);
  request.set_id(0);
  request.mutable_progress()->set_steps(1);
  v1::FederatedRound* round = request.mutable_progress()->add_rounds();
  round->set_attempts(1);
  round->set_update_norm(std::nan(""));
  EXPECT_TRUE(
      absl::IsInvalidArgument(coordinator_->Heartbeat(request).status()));
  round->set_update_norm(1);
  round->set_test_accuracy(1.5);
  EXPECT_TRUE(
      absl::IsInvalidArgument(coordinator_->Heartbeat(request).status()));
  round->set_test_accuracy(0.5);
  round->set_sampled(-1);
  EXPECT_TRUE(
      absl::IsInvalidArgument(coordinator_->Heartbeat(request).status()));
  // Nothing of it was recorded; a good report still is.
  EXPECT_TRUE(coordinator_->Rounds().empty());
  round->set_sampled(1);
  EXPECT_TRUE(coordinator_->Heartbeat(request).ok());
  EXPECT_EQ(coordinator_->Rounds().size(), 1u);
}

// A federated worker's limits are rounds, not epochs of a shard.
TEST_F(FederatedRoundsTest, WorkersTakeTheJobsRoundsAsSteps) {
  EXPECT_TRUE(Report(1, 5, {}).ok());
  absl::StatusOr<v1::HeartbeatResponse> past = Report(1, 6, {});
  EXPECT_TRUE(absl::IsInvalidArgument(past.status()));
  EXPECT_THAT(std::string(past.status().message()), HasSubstr("steps 6"));
}

}  // namespace
}  // namespace descent
