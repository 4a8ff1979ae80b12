// How the Coordinator ends a job early: early stopping on the test loss
// (keeping the best evaluation as the result), divergence reported by a
// worker or seen in an evaluation (exit code 6), and the exit codes it
// hands to every member; plus the gradient norms each evaluation carries.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator/coordinator.h"
#include "tests/server/coordinator/progress_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

class CoordinatorStoppingTest : public ::testing::Test {
 protected:
  // A running job of 1 server and 2 workers, evaluated every 100 steps,
  // with early stopping if patience > 0.
  void Start(int patience = 0, double min_delta = 0,
             double max_loss_factor = 100,
             const std::string& divergence_hint = "") {
    CoordinatorOptions options;
    options.divergence_hint = divergence_hint;
    options.config.set_job_id("job-1");
    options.config.mutable_cluster()->set_num_servers(1);
    options.config.mutable_cluster()->set_num_workers(2);
    options.config.mutable_cluster()->set_heartbeat_timeout_seconds(10);
    options.config.mutable_cluster()->set_registration_timeout_seconds(60);
    v1::TrainConfig* train = options.config.mutable_train();
    train->set_epochs(10);
    train->set_batch_size(10);  // 500 steps a worker
    train->set_eval_every_steps(100);
    train->set_max_loss_factor(max_loss_factor);
    train->mutable_early_stopping()->set_patience(patience);
    train->mutable_early_stopping()->set_min_delta(min_delta);
    options.num_parameters = 4;
    options.train_examples = 1000;
    options.clock = [this] { return now_; };
    coordinator_ = std::make_unique<Coordinator>(std::move(options));
    v1::RegisterServerRequest server;
    server.set_address("127.0.0.1:5000");
    ASSERT_TRUE(coordinator_->RegisterServer(server).ok());
    for (uint64_t instance : {11, 12}) {
      v1::RegisterWorkerRequest worker;
      worker.set_instance_id(instance);
      ASSERT_TRUE(coordinator_->RegisterWorker(worker).ok());
    }
    ASSERT_EQ(coordinator_->state(), v1::RUNNING);
  }

  v1::HeartbeatResponse Beat(v1::Role role, int id,
                             const v1::WorkerProgress& progress = {}) {
    v1::HeartbeatRequest request;
    request.set_job_id("job-1");
    request.set_role(role);
    request.set_id(id);
    if (role == v1::WORKER) *request.mutable_progress() = progress;
    absl::StatusOr<v1::HeartbeatResponse> response =
        coordinator_->Heartbeat(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.value_or(v1::HeartbeatResponse());
  }

  // Worker progress of `steps` steps whose gradients had the given norms
  // per layer (weights, bias) at every step.
  static v1::WorkerProgress Progress(int64_t steps, double weights = 0,
                                     double bias = 0, bool done = false) {
    return StepsOfProgress(steps, 0.5, weights, bias, done);
  }

  // Runs one evaluation at the workers' current step with this test loss
  // (and accuracy 1 - loss); returns whether it was the best so far.
  bool Evaluate(double test_loss) {
    v1::Evaluation evaluation = coordinator_->BeginEvaluation();
    evaluation.set_test_loss(test_loss);
    evaluation.set_test_accuracy(1 - test_loss);
    return coordinator_->RecordEvaluation(evaluation);
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorStoppingTest, StopsAfterPatienceEvaluationsWithoutGain) {
  Start(/*patience=*/2, /*min_delta=*/0.1);
  // Losses and whether each is the best: a gain of 0.1 or less is none.
  const std::vector<std::pair<double, bool>> evaluations = {
      {1.0, true}, {0.95, false}, {0.85, true}, {0.8, false}};
  int64_t steps = 0;
  for (const auto& [loss, best] : evaluations) {
    steps += 100;
    Beat(v1::WORKER, 0, Progress(steps));
    EXPECT_EQ(Evaluate(loss), best) << loss;
    EXPECT_EQ(coordinator_->state(), v1::RUNNING) << loss;
  }
  Beat(v1::WORKER, 0, Progress(steps + 100));
  EXPECT_FALSE(Evaluate(0.9));  // the second in a row without a gain
  EXPECT_EQ(coordinator_->state(), v1::SUCCEEDED);
  EXPECT_EQ(coordinator_->exit_code(), kExitOk);
  EXPECT_EQ(Beat(v1::WORKER, 1).state(), v1::SUCCEEDED);  // workers stop

  // The result is the best evaluation's, not the last one's.
  const v1::JobSummary summary = coordinator_->Summary();
  EXPECT_EQ(summary.state(), "SUCCEEDED");
  EXPECT_TRUE(summary.stopped_early());
  EXPECT_EQ(summary.best_step(), 300);
  EXPECT_DOUBLE_EQ(summary.test_loss(), 0.85);
  EXPECT_DOUBLE_EQ(summary.test_accuracy(), 0.15);
  EXPECT_EQ(summary.steps(), 500);
  EXPECT_EQ(summary.evaluations(), 5);
}

TEST_F(CoordinatorStoppingTest, WithoutEarlyStoppingTheLastEvaluationCounts) {
  Start();
  for (double loss : {1.0, 1.1, 1.2, 1.3, 1.4})
    EXPECT_EQ(Evaluate(loss), loss == 1.0);
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
  const v1::JobSummary summary = coordinator_->Summary();
  EXPECT_FALSE(summary.stopped_early());
  EXPECT_EQ(summary.best_step(), 0);
  EXPECT_DOUBLE_EQ(summary.test_loss(), 1.4);
}

TEST_F(CoordinatorStoppingTest, TheFinalEvaluationDoesNotStopEarly) {
  Start(/*patience=*/1);
  Beat(v1::WORKER, 0, Progress(40));
  EXPECT_TRUE(Evaluate(1.0));
  Beat(v1::WORKER, 0, Progress(500, 0, 0, /*done=*/true));
  Beat(v1::WORKER, 1, Progress(500, 0, 0, /*done=*/true));
  EXPECT_FALSE(Evaluate(2.0));  // patience runs out as the epochs end
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);  // the caller succeeds it
  coordinator_->Succeed();
  const v1::JobSummary summary = coordinator_->Summary();
  EXPECT_FALSE(summary.stopped_early());
  EXPECT_EQ(summary.best_step(), 40);
  EXPECT_DOUBLE_EQ(summary.test_loss(), 1.0);
}

TEST_F(CoordinatorStoppingTest, WorkerDivergenceFailsTheJobWithExitCode6) {
  Start();
  v1::WorkerProgress progress = Progress(3);
  const std::string why =
      "training diverged: worker 1 got loss nan at its step 3; lower the "
      "learning rate";
  progress.set_divergence(why);
  const v1::HeartbeatResponse answer = Beat(v1::WORKER, 1, progress);
  EXPECT_EQ(answer.state(), v1::FAILED);  // the diverged worker hears at once
  EXPECT_EQ(answer.exit_code(), kExitDiverged);
  EXPECT_EQ(answer.error(), why);
  // Every other member learns the same code, so every process exits with it.
  for (const v1::HeartbeatResponse& other :
       {Beat(v1::WORKER, 0), Beat(v1::SERVER, 0)}) {
    EXPECT_EQ(other.state(), v1::FAILED);
    EXPECT_EQ(other.exit_code(), kExitDiverged);
  }
  EXPECT_EQ(coordinator_->exit_code(), kExitDiverged);
  EXPECT_EQ(coordinator_->Summary().error(), why);
  EXPECT_EQ(coordinator_->Summary().state(), "FAILED");
}

// Where the data suggests why (unscaled features), a divergence says so.
TEST_F(CoordinatorStoppingTest, DivergenceCarriesTheDataHint) {
  const std::string hint =
      "feature ranges differ by orders of magnitude: set data.scaling: "
      "STANDARDIZE";
  Start(/*patience=*/0, /*min_delta=*/0, /*max_loss_factor=*/0, hint);
  v1::WorkerProgress progress = Progress(3);
  progress.set_divergence(
      "training diverged: worker 1 got loss nan; lower "
      "the learning rate");
  const v1::HeartbeatResponse answer = Beat(v1::WORKER, 1, progress);
  EXPECT_EQ(answer.error(), progress.divergence() + "; " + hint);
  EXPECT_EQ(coordinator_->Summary().error(),
            progress.divergence() + "; " + hint);

  Start(/*patience=*/0, /*min_delta=*/0, /*max_loss_factor=*/0, hint);
  Beat(v1::WORKER, 0, Progress(120));
  EXPECT_FALSE(Evaluate(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_THAT(coordinator_->Status().error(),
              HasSubstr("lower the learning rate; " + hint));

  // Other failures are not the data's scaling.
  Start(/*patience=*/0, /*min_delta=*/0, /*max_loss_factor=*/0, hint);
  coordinator_->Fail("disk full");
  EXPECT_EQ(coordinator_->Status().error(), "disk full");
}

TEST_F(CoordinatorStoppingTest, NonFiniteTestLossIsDivergence) {
  Start(/*patience=*/3, /*min_delta=*/0, /*max_loss_factor=*/0);
  Beat(v1::WORKER, 0, Progress(120));
  EXPECT_FALSE(Evaluate(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_EQ(coordinator_->exit_code(), kExitDiverged);
  EXPECT_THAT(coordinator_->Status().error(),
              HasSubstr("training diverged: the test loss at step 120 is nan"));
}

TEST_F(CoordinatorStoppingTest, ExplodingTestLossIsDivergence) {
  Start(/*patience=*/0, /*min_delta=*/0, /*max_loss_factor=*/100);
  EXPECT_TRUE(Evaluate(0.5));
  EXPECT_FALSE(Evaluate(40));  // 80 times the first: still training
  EXPECT_EQ(coordinator_->state(), v1::RUNNING);
  Beat(v1::WORKER, 0, Progress(300));
  EXPECT_FALSE(Evaluate(60));
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_EQ(coordinator_->exit_code(), kExitDiverged);
  EXPECT_THAT(coordinator_->Status().error(),
              HasSubstr("the test loss at step 300 is 60, more than 100 times "
                        "the first evaluation's (0.5)"));
}

TEST_F(CoordinatorStoppingTest, ExitCodesFollowHowTheJobEnded) {
  Start();
  EXPECT_EQ(coordinator_->exit_code(), kExitOk);
  now_ += absl::Seconds(11);  // nobody beat: peers lost
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->state(), v1::FAILED);
  EXPECT_EQ(coordinator_->exit_code(), kExitPeerLost);
  coordinator_->Fail("later", kExitDataError);  // no effect once ended
  EXPECT_EQ(coordinator_->exit_code(), kExitPeerLost);

  Start();
  coordinator_->Fail("cannot pull", kExitDataError);
  EXPECT_EQ(coordinator_->exit_code(), kExitDataError);
  EXPECT_EQ(Beat(v1::SERVER, 0).exit_code(), kExitDataError);
  Start();
  coordinator_->Fail("something else");
  EXPECT_EQ(coordinator_->exit_code(), kExitJobFailed);
}

TEST_F(CoordinatorStoppingTest, EvaluationsCarryMeanGradientNormsOfTheWindow) {
  Start();
  EXPECT_EQ(coordinator_->BeginEvaluation().gradient_norms_size(), 0);
  Beat(v1::WORKER, 0, Progress(10, /*weights=*/3, /*bias=*/4));
  Beat(v1::WORKER, 1, Progress(30, /*weights=*/1, /*bias=*/0));
  v1::Evaluation first = coordinator_->BeginEvaluation();
  ASSERT_EQ(first.gradient_norms_size(), 2);
  EXPECT_EQ(first.gradient_norms(0).layer(), "weights");
  EXPECT_EQ(first.gradient_norms(1).layer(), "bias");
  // Means over all 40 steps of both workers.
  EXPECT_DOUBLE_EQ(first.gradient_norms(0).norm(), (10 * 3 + 30 * 1) / 40.0);
  EXPECT_DOUBLE_EQ(first.gradient_norms(1).norm(), (10 * 4 + 30 * 0) / 40.0);
  EXPECT_DOUBLE_EQ(first.gradient_norm(), (10 * 5 + 30 * 1) / 40.0);

  // The next window counts only the steps since; a stale heartbeat none.
  v1::WorkerProgress later = Progress(10, 3, 4);
  later.set_steps(20);
  later.set_loss_count(20);
  later.set_gradient_norm_count(20);
  later.set_gradient_norm_sums(0, 10 * 3 + 10 * 7.0);  // 10 steps of 7
  later.set_gradient_norm_sums(1, 10 * 4 + 10 * 1.0);  // 10 steps of 1
  later.set_gradient_norm_total_sum(10 * 5 + 10 * 2.0);
  Beat(v1::WORKER, 0, later);
  v1::HeartbeatRequest stale;  // fewer steps: refused
  stale.set_job_id("job-1");
  stale.set_role(v1::WORKER);
  stale.set_id(1);
  *stale.mutable_progress() = Progress(25, 1, 0);
  EXPECT_EQ(coordinator_->Heartbeat(stale).status().code(),
            absl::StatusCode::kInvalidArgument);
  const v1::Evaluation second = coordinator_->BeginEvaluation();
  ASSERT_EQ(second.gradient_norms_size(), 2);
  EXPECT_DOUBLE_EQ(second.gradient_norms(0).norm(), 7);
  EXPECT_DOUBLE_EQ(second.gradient_norms(1).norm(), 1);
  EXPECT_DOUBLE_EQ(second.gradient_norm(), 2);
}

}  // namespace
}  // namespace descent
