#include "server/coordinator/coordinator.h"

#include <functional>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest() { Build(); }

  // A fresh coordinator, its config as below and then as `tweak` makes it.
  void Build(const std::function<void(v1::JobConfig*)>& tweak = nullptr) {
    CoordinatorOptions options;
    options.config.set_job_id("job-1");
    options.config.mutable_cluster()->set_num_servers(2);
    options.config.mutable_cluster()->set_num_workers(2);
    options.config.mutable_cluster()->set_heartbeat_timeout_seconds(10);
    options.config.mutable_cluster()->set_registration_timeout_seconds(60);
    options.config.mutable_train()->set_epochs(2);
    options.config.mutable_train()->set_batch_size(10);  // 100 steps a worker
    options.config.mutable_train()->set_eval_every_steps(100);
    options.num_parameters = 7;
    options.num_features = 3;
    options.train_examples = 1000;
    options.clock = [this] { return now_; };
    if (tweak) tweak(&options.config);
    coordinator_ = std::make_unique<Coordinator>(std::move(options));
  }

  absl::StatusOr<v1::RegisterServerResponse> AddServer(int shard) {
    v1::RegisterServerRequest request;
    request.set_shard(shard);
    request.set_address("127.0.0.1:" + std::to_string(5000 + shard));
    return coordinator_->RegisterServer(request);
  }

  absl::StatusOr<v1::RegisterWorkerResponse> AddWorker(uint64_t instance) {
    v1::RegisterWorkerRequest request;
    request.set_instance_id(instance);
    return coordinator_->RegisterWorker(request);
  }

  absl::StatusOr<v1::HeartbeatResponse> Beat(v1::Role role, int id,
                                             int64_t steps = 0,
                                             bool done = false) {
    v1::HeartbeatRequest request;
    request.set_job_id("job-1");
    request.set_role(role);
    request.set_id(id);
    if (role == v1::WORKER) {
      request.mutable_progress()->set_steps(steps);
      request.mutable_progress()->set_examples(steps * 10);
      request.mutable_progress()->set_loss_sum(steps * 0.5);
      request.mutable_progress()->set_loss_count(steps);
      request.mutable_progress()->set_done(done);
    }
    return coordinator_->Heartbeat(request);
  }

  void RegisterAll() {
    ASSERT_TRUE(AddServer(0).ok());
    ASSERT_TRUE(AddServer(1).ok());
    ASSERT_TRUE(AddWorker(11).ok());
    ASSERT_TRUE(AddWorker(12).ok());
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorTest, ServersGetContiguousRangesAndTheConfig) {
  auto first = AddServer(0);
  auto second = AddServer(1);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->begin(), 0u);
  EXPECT_EQ(first->end(), second->begin());
  EXPECT_EQ(second->end(), 7u);
  EXPECT_EQ(first->config().job_id(), "job-1");
  EXPECT_EQ(first->num_features(), 3);
}

TEST_F(CoordinatorTest, ServerRegistrationRules) {
  EXPECT_EQ(AddServer(2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddServer(-1).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(AddServer(0).ok());
  EXPECT_TRUE(AddServer(0).ok());  // same address again: idempotent
  v1::RegisterServerRequest other;
  other.set_shard(0);
  other.set_address("127.0.0.1:9");
  EXPECT_EQ(coordinator_->RegisterServer(other).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(CoordinatorTest, WorkersGetDistinctIdsAndRetriesKeepThem) {
  auto a = AddWorker(11);
  auto b = AddWorker(12);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->worker_id(), 0);
  EXPECT_EQ(b->worker_id(), 1);
  EXPECT_EQ(a->data_shard(), 0);
  EXPECT_EQ(b->data_shard(), 1);
  EXPECT_EQ(a->num_data_shards(), 2);
  EXPECT_EQ(AddWorker(11)->worker_id(), 0);  // retried registration
  EXPECT_EQ(AddWorker(13).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// The interval is resolved once, by the coordinator, and handed out with
// the config: every worker paces its heartbeats by the same one.
TEST(CoordinatorIntervalTest, WorkersGetTheResolvedEvaluationInterval) {
  CoordinatorOptions options;
  options.config.set_job_id("job-1");
  options.config.mutable_cluster()->set_num_servers(1);
  options.config.mutable_cluster()->set_num_workers(2);
  options.config.mutable_train()->set_epochs(1);
  options.config.mutable_train()->set_batch_size(10);
  options.num_parameters = 3;
  options.train_examples = 2000;  // 200 steps in all: every 10
  Coordinator coordinator(std::move(options));
  v1::RegisterWorkerRequest request;
  request.set_instance_id(7);
  absl::StatusOr<v1::RegisterWorkerResponse> response =
      coordinator.RegisterWorker(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_TRUE(response->config().train().has_eval_every_steps());
  EXPECT_EQ(response->config().train().eval_every_steps(), 10);
  EXPECT_EQ(coordinator.eval_every_steps(), 10);
}

TEST_F(CoordinatorTest, AWorkerGetsTheIdItAsksFor) {
  v1::RegisterWorkerRequest request;
  request.set_instance_id(11);
  request.set_requested_id(1);  // registers first, asks for the second id
  auto first = coordinator_->RegisterWorker(request);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->worker_id(), 1);
  EXPECT_EQ(first->data_shard(), 1);
  EXPECT_EQ(coordinator_->RegisterWorker(request)->worker_id(), 1);  // retry

  request.set_instance_id(12);  // another process, the same id: refused
  const absl::Status taken = coordinator_->RegisterWorker(request).status();
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(taken.message(),
              HasSubstr("worker id 1 is held by another process"));
  request.set_requested_id(2);
  EXPECT_THAT(coordinator_->RegisterWorker(request).status().message(),
              HasSubstr("worker id 2 is out of range: the job has 2 workers"));
  EXPECT_EQ(AddWorker(12)->worker_id(), 0);  // no request: the free one
}

TEST_F(CoordinatorTest, RunsOnceEveryoneHasRegistered) {
  ASSERT_TRUE(AddServer(0).ok());
  ASSERT_TRUE(AddWorker(11).ok());
  ASSERT_TRUE(AddWorker(12).ok());
  EXPECT_EQ(coordinator_->state(), v1::REGISTERING);
  ASSERT_TRUE(AddServer(1).ok());
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
  const v1::JobStatus status = coordinator_->Status();
  ASSERT_EQ(status.shards_size(), 2);
  EXPECT_EQ(status.shards(1).address(), "127.0.0.1:5001");
  EXPECT_EQ(status.members_size(), 5);  // itself, 2 servers, 2 workers
  EXPECT_EQ(status.total_examples(), 2000);
}

TEST_F(CoordinatorTest, RegistrationTimeoutFailsTheJob) {
  ASSERT_TRUE(AddServer(0).ok());
  now_ += absl::Seconds(59);
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->state(), v1::REGISTERING);
  now_ += absl::Seconds(2);
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_THAT(coordinator_->Status().error(),
              HasSubstr("1 of 2 servers and 0 of 2 workers"));
}

TEST_F(CoordinatorTest, MissedHeartbeatFailsTheJob) {
  Build([](v1::JobConfig* config) {
    config->mutable_cluster()->set_on_worker_failure(v1::FAIL);
  });
  RegisterAll();
  now_ += absl::Seconds(8);
  ASSERT_TRUE(Beat(v1::SERVER, 0).ok());
  ASSERT_TRUE(Beat(v1::SERVER, 1).ok());
  ASSERT_TRUE(Beat(v1::WORKER, 0).ok());
  now_ += absl::Seconds(8);  // worker 1 silent for 16 s
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_THAT(coordinator_->Status().error(), HasSubstr("worker 1"));
}

TEST_F(CoordinatorTest, CountsEachSilenceOfHalfTheTimeoutOnce) {
  RegisterAll();
  auto beat_all = [&] {
    ASSERT_TRUE(Beat(v1::SERVER, 0).ok());
    ASSERT_TRUE(Beat(v1::SERVER, 1).ok());
    ASSERT_TRUE(Beat(v1::WORKER, 0).ok());
  };
  now_ += absl::Seconds(5);  // exactly half of 10 s: not late yet
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->heartbeats_missed(), 0);
  beat_all();
  now_ += absl::Seconds(1);  // worker 1 silent for 6 s
  coordinator_->Tick();
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->heartbeats_missed(), 1);
  ASSERT_TRUE(Beat(v1::WORKER, 1).ok());
  now_ += absl::Seconds(6);  // everyone silent again
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->heartbeats_missed(), 5);
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
}

TEST_F(CoordinatorTest, AMemberLostAtOnceCountsAsMissed) {
  RegisterAll();
  now_ += absl::Seconds(11);
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_GE(coordinator_->heartbeats_missed(), 1);
}

TEST_F(CoordinatorTest, LearningRateFollowsTheScheduleAtTheUpdatesApplied) {
  for (v1::Consistency consistency : {v1::ASP, v1::BSP}) {
    Build([consistency](v1::JobConfig* config) {
      config->mutable_optimizer()->mutable_sgd()->set_learning_rate(0.8);
      v1::ScheduleConfig* schedule =
          config->mutable_optimizer()->mutable_schedule();
      schedule->set_kind(v1::ScheduleConfig::STEP_DECAY);
      schedule->set_step_size(30);
      schedule->set_gamma(0.5);
      config->mutable_train()->set_consistency(consistency);
    });
    RegisterAll();
    EXPECT_DOUBLE_EQ(coordinator_->learning_rate(), 0.8);
    ASSERT_TRUE(Beat(v1::WORKER, 0, 20).ok());
    ASSERT_TRUE(Beat(v1::WORKER, 1, 20).ok());
    // 40 steps: 40 updates under ASP, 20 under BSP (two workers a step).
    EXPECT_DOUBLE_EQ(coordinator_->learning_rate(),
                     consistency == v1::ASP ? 0.4 : 0.8)
        << v1::Consistency_Name(consistency);
  }
}

TEST_F(CoordinatorTest, LearningRateIsZeroWithoutAnOptimizer) {
  EXPECT_EQ(coordinator_->learning_rate(), 0);
}

TEST_F(CoordinatorTest, HeartbeatRules) {
  RegisterAll();
  v1::HeartbeatRequest wrong_job;
  wrong_job.set_job_id("other");
  wrong_job.set_role(v1::WORKER);
  const absl::Status refused = coordinator_->Heartbeat(wrong_job).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  // The refusal does not tell a stranger the job's id.
  EXPECT_THAT(refused.message(), Not(HasSubstr("job-1")));
  EXPECT_EQ(Beat(v1::WORKER, 7).status().code(),  // ids are 0..1
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Beat(v1::WORKER, 0)->state(), v1::RUNNING);
}

TEST_F(CoordinatorTest, ProgressSumsWorkersAndDrivesEvaluation) {
  RegisterAll();
  ASSERT_TRUE(Beat(v1::WORKER, 0, 40).ok());
  ASSERT_TRUE(Beat(v1::WORKER, 1, 50).ok());
  EXPECT_FALSE(coordinator_->EvaluationDue());
  ASSERT_TRUE(Beat(v1::WORKER, 1, 60).ok());
  EXPECT_TRUE(coordinator_->EvaluationDue());
  const v1::JobStatus status = coordinator_->Status();
  EXPECT_EQ(status.global_step(), 100);
  EXPECT_EQ(status.examples(), 1000);
  EXPECT_DOUBLE_EQ(status.epoch(), 1.0);
  EXPECT_DOUBLE_EQ(status.train_loss(), 0.5);

  v1::Evaluation evaluation = coordinator_->BeginEvaluation();
  EXPECT_EQ(evaluation.step(), 100);
  EXPECT_DOUBLE_EQ(evaluation.train_loss(), 0.5);
  evaluation.set_test_accuracy(0.75);
  coordinator_->RecordEvaluation(evaluation);
  EXPECT_FALSE(coordinator_->EvaluationDue());  // next one at step 200
  EXPECT_DOUBLE_EQ(coordinator_->Status().last_evaluation().test_accuracy(),
                   0.75);
}

TEST_F(CoordinatorTest, StaleProgressIsRefused) {
  RegisterAll();
  ASSERT_TRUE(Beat(v1::WORKER, 0, 40).ok());
  EXPECT_EQ(Beat(v1::WORKER, 0, 30).status().code(),  // reordered, older
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(coordinator_->Status().global_step(), 40);
}

TEST_F(CoordinatorTest, SucceedsWhenAllWorkersAreDoneAndTellsEveryone) {
  RegisterAll();
  ASSERT_TRUE(Beat(v1::WORKER, 0, 100, /*done=*/true).ok());
  EXPECT_FALSE(coordinator_->AllWorkersDone());
  ASSERT_TRUE(Beat(v1::WORKER, 1, 100, /*done=*/true).ok());
  EXPECT_TRUE(coordinator_->AllWorkersDone());
  now_ += absl::Seconds(4);
  coordinator_->Succeed();
  coordinator_->Fail("too late");  // no effect once ended
  EXPECT_EQ(coordinator_->state(), v1::SUCCEEDED);
  EXPECT_FALSE(coordinator_->AllNotified());
  for (int s = 0; s < 2; ++s)
    EXPECT_EQ(Beat(v1::SERVER, s)->state(), v1::SUCCEEDED);
  for (int w = 0; w < 2; ++w) ASSERT_TRUE(Beat(v1::WORKER, w, 100, true).ok());
  EXPECT_TRUE(coordinator_->AllNotified());

  const v1::JobSummary summary = coordinator_->Summary();
  EXPECT_EQ(summary.state(), "SUCCEEDED");
  EXPECT_EQ(summary.steps(), 200);
  EXPECT_DOUBLE_EQ(summary.epochs(), 2.0);
  EXPECT_DOUBLE_EQ(summary.wall_seconds(), 4.0);
  EXPECT_DOUBLE_EQ(summary.samples_per_second(), 500.0);
  EXPECT_EQ(summary.config().job_id(), "job-1");
}

// Unset train.eval_every_steps: total steps / 20. 1000 examples over 2
// workers, batches of 10, 2 epochs: 2 x 50 x 2 = 200 steps, every 10.
TEST_F(CoordinatorTest, UnsetEvalEveryStepsGivesAboutTwentyEvaluations) {
  Build([](v1::JobConfig* config) {
    config->mutable_train()->clear_eval_every_steps();
    config->mutable_train()->set_batch_size(10);
  });
  EXPECT_EQ(coordinator_->eval_every_steps(), 10);
  RegisterAll();
  ASSERT_TRUE(Beat(v1::WORKER, 0, 9).ok());
  EXPECT_FALSE(coordinator_->EvaluationDue());
  ASSERT_TRUE(Beat(v1::WORKER, 1, 1).ok());
  EXPECT_TRUE(coordinator_->EvaluationDue());
  EXPECT_EQ(coordinator_->Summary().eval_every_steps(), 10);
}

// Each evaluation keeps the step it saw, the boundary it was due at and the
// parameter version the caller measured, in the summary's history.
TEST_F(CoordinatorTest, SummaryHistoryRecordsWhatEachEvaluationSaw) {
  RegisterAll();
  ASSERT_TRUE(Beat(v1::WORKER, 0, 100).ok());
  ASSERT_TRUE(Beat(v1::WORKER, 1, 100).ok());  // 200: boundaries 100, 200
  std::vector<int64_t> due;
  while (coordinator_->EvaluationDue()) {
    v1::Evaluation evaluation = coordinator_->BeginEvaluation();
    evaluation.set_parameter_version(240 + due.size());
    evaluation.set_test_loss(1);
    coordinator_->RecordEvaluation(evaluation);
    due.push_back(evaluation.due_step());
  }
  EXPECT_EQ(due, (std::vector<int64_t>{100, 200}));
  const v1::JobSummary summary = coordinator_->Summary();
  ASSERT_EQ(summary.history_size(), 2);
  EXPECT_EQ(summary.history(1).step(), 200);
  EXPECT_EQ(summary.history(1).due_step(), 200);
  EXPECT_EQ(summary.history(1).parameter_version(), 241);
  EXPECT_EQ(summary.selected_step(), 200);
  EXPECT_EQ(summary.selected_parameter_version(), 241);
  EXPECT_EQ(summary.selected_on(), "test");
}

// A regression job's summary has RMSE and no accuracy; without early
// stopping no best_step or stopped_early; a job that did not fail, no error.
TEST_F(CoordinatorTest, SummaryHoldsOnlyTheFieldsThatApply) {
  RegisterAll();
  ASSERT_TRUE(Beat(v1::WORKER, 0, 100, /*done=*/true).ok());
  ASSERT_TRUE(Beat(v1::WORKER, 1, 100, /*done=*/true).ok());
  v1::Evaluation evaluation = coordinator_->BeginEvaluation(/*final=*/true);
  evaluation.set_parameter_version(200);  // both workers' pushes
  evaluation.set_test_loss(3400);
  evaluation.set_test_rmse(58.3);
  coordinator_->RecordEvaluation(evaluation);
  coordinator_->Succeed();
  const v1::JobSummary summary = coordinator_->Summary();
  EXPECT_TRUE(summary.has_test_rmse());
  EXPECT_TRUE(summary.has_test_loss());
  EXPECT_FALSE(summary.has_test_accuracy());
  EXPECT_FALSE(summary.has_test_auc());
  EXPECT_FALSE(summary.has_validation_loss());
  EXPECT_FALSE(summary.has_best_step());
  EXPECT_FALSE(summary.has_stopped_early());
  EXPECT_FALSE(summary.has_error());
  EXPECT_FALSE(summary.has_planted_test_rmse());
}

// With validation data the evaluations measure validation; the summary's
// test figures are the final test of the selected model, recorded apart.
TEST_F(CoordinatorTest, WithValidationTheResultIsTheFinalTestOfTheSelected) {
  RegisterAll();
  ASSERT_TRUE(Beat(v1::WORKER, 0, 100, /*done=*/true).ok());
  ASSERT_TRUE(Beat(v1::WORKER, 1, 100, /*done=*/true).ok());
  v1::Evaluation evaluation = coordinator_->BeginEvaluation(/*final=*/true);
  evaluation.set_parameter_version(200);  // both workers' pushes
  evaluation.set_validation_loss(0.4);
  evaluation.set_validation_accuracy(0.9);
  coordinator_->RecordEvaluation(evaluation);
  v1::Evaluation test;
  test.set_test_loss(0.5);
  test.set_test_accuracy(0.85);
  coordinator_->RecordFinalTest(test);
  coordinator_->Succeed();
  const v1::JobSummary summary = coordinator_->Summary();
  EXPECT_EQ(summary.selected_on(), "validation");
  EXPECT_DOUBLE_EQ(summary.validation_accuracy(), 0.9);
  EXPECT_DOUBLE_EQ(summary.test_accuracy(), 0.85);
  EXPECT_DOUBLE_EQ(summary.test_loss(), 0.5);
  EXPECT_FALSE(summary.history(0).has_test_loss());
}

}  // namespace
}  // namespace descent

namespace descent {
namespace {

// A resumed job: shards are told their files, workers their steps, and
// the evaluations and training time go on from the checkpoint's.
TEST(CoordinatorResumeTest, RegistrationsCarryTheCheckpointsState) {
  v1::CheckpointManifest manifest;
  for (int shard : {0, 1}) {
    v1::ShardCheckpoint* s = manifest.add_shards();
    s->set_shard(shard);
    s->set_version(60);
    s->mutable_file()->set_name("shard-" + std::to_string(shard) +
                                ".safetensors");
    s->mutable_file()->set_bytes(100 + shard);
    s->mutable_file()->set_crc32(7 + shard);
  }
  for (auto [worker, step] : {std::pair{0, 100}, std::pair{1, 60}}) {
    v1::WorkerCheckpoint* w = manifest.add_workers();
    w->set_worker(worker);
    w->set_step(step);
  }
  for (int step : {50, 100}) {
    v1::Evaluation* e = manifest.add_history();
    e->set_step(step);
    e->set_test_loss(1.0 / step);
  }
  manifest.set_next_evaluation_step(200);
  manifest.set_wall_seconds(12.5);

  absl::Time now = absl::FromUnixSeconds(1000);
  CoordinatorOptions options;
  options.config.set_job_id("job-1");
  options.config.mutable_cluster()->set_num_servers(2);
  options.config.mutable_cluster()->set_num_workers(2);
  options.config.mutable_cluster()->set_heartbeat_timeout_seconds(10);
  options.config.mutable_cluster()->set_registration_timeout_seconds(60);
  options.config.mutable_train()->set_epochs(2);
  options.config.mutable_train()->set_batch_size(10);  // 100 steps a worker
  options.config.mutable_train()->set_eval_every_steps(100);
  options.num_parameters = 7;
  options.num_features = 3;
  options.train_examples = 1000;
  options.clock = [&now] { return now; };
  options.checkpoint_root = "/out/checkpoints";
  options.resume = manifest;
  options.resume_dir = "/out/checkpoints/step-000000160";
  Coordinator coordinator(std::move(options));

  v1::RegisterServerRequest server;
  server.set_shard(1);
  server.set_address("127.0.0.1:5001");
  absl::StatusOr<v1::RegisterServerResponse> s =
      coordinator.RegisterServer(server);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->checkpoint_root(), "/out/checkpoints");
  EXPECT_EQ(s->restore_path(),
            "/out/checkpoints/step-000000160/shard-1.safetensors");
  EXPECT_EQ(s->restore_bytes(), 101);
  EXPECT_EQ(s->restore_crc32(), 8u);
  // Worker 0 has done all its 100 steps: nobody waits for it.
  EXPECT_THAT(s->done_workers(), ::testing::ElementsAre(0));

  for (int32_t id : {1, 0}) {
    v1::RegisterWorkerRequest worker;
    worker.set_instance_id(10 + id);
    worker.set_requested_id(id);
    absl::StatusOr<v1::RegisterWorkerResponse> w =
        coordinator.RegisterWorker(worker);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(w->start_step(), id == 0 ? 100 : 60);
  }
  const v1::JobSummary summary = coordinator.Summary();
  EXPECT_EQ(summary.history_size(), 2);
  EXPECT_GE(summary.wall_seconds(), 12.5);
  v1::CheckpointManifest next;
  coordinator.FillCheckpoint({50, 50}, &next);
  EXPECT_EQ(next.next_evaluation_step(), 0);  // the schedule has not started
  EXPECT_EQ(next.history_size(), 2);
}

}  // namespace
}  // namespace descent
