// EvaluationTracker alone: the window's means and how it empties, the
// schedule, best evaluations and patience, divergence of test losses, and
// which evaluation is the job's result.
#include "server/coordinator/evaluation_tracker.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/coordinator/progress_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Cumulative progress of `steps` steps, each with batch loss `loss` and
// gradient norms `weights` and `bias` on the two layers of that name.
v1::WorkerProgress Progress(int64_t steps, double loss = 0.5,
                            double weights = 0, double bias = 0) {
  return StepsOfProgress(steps, loss, weights, bias);
}

// Records an evaluation at `step` with this test loss.
EvaluationTracker::Outcome Record(EvaluationTracker& tracker, double loss,
                                  int64_t step = 0) {
  v1::Evaluation evaluation = tracker.Begin(step, 0, 0);
  evaluation.set_test_loss(loss);
  return tracker.Record(evaluation);
}

TEST(EvaluationTracker, TrainLossIsTheMeanOverTheWindowThenStartsAfresh) {
  EvaluationTracker tracker({});
  EXPECT_EQ(tracker.Begin(0, 0, 0).train_loss(), 0);  // nothing reported
  // Worker A: 10 steps of loss 1; worker B: 30 of loss 3.
  tracker.AddProgress({}, Progress(10, 1.0));
  tracker.AddProgress({}, Progress(30, 3.0));
  const v1::Evaluation first = tracker.Begin(40, 0.5, 2.5);
  EXPECT_DOUBLE_EQ(first.train_loss(), (10 * 1.0 + 30 * 3.0) / 40);
  EXPECT_EQ(first.step(), 40);
  EXPECT_DOUBLE_EQ(first.epoch(), 0.5);
  EXPECT_DOUBLE_EQ(first.wall_seconds(), 2.5);
  // A's next report adds only its steps since: 10 more of loss 2.
  v1::WorkerProgress later = Progress(20, 0);
  later.set_loss_sum(10 * 1.0 + 10 * 2.0);
  tracker.AddProgress(Progress(10, 1.0), later);
  EXPECT_DOUBLE_EQ(tracker.Begin(50, 0, 0).train_loss(), 2.0);
  EXPECT_EQ(tracker.Begin(50, 0, 0).train_loss(), 0);
}

TEST(EvaluationTracker, GradientNormsAreMeansPerLayerOverTheWindow) {
  EvaluationTracker tracker({});
  EXPECT_EQ(tracker.Begin(0, 0, 0).gradient_norms_size(), 0);
  tracker.AddProgress({}, Progress(10, 0.5, /*weights=*/3, /*bias=*/4));
  tracker.AddProgress({}, Progress(30, 0.5, /*weights=*/1, /*bias=*/0));
  const v1::Evaluation evaluation = tracker.Begin(40, 0, 0);
  ASSERT_EQ(evaluation.gradient_norms_size(), 2);
  EXPECT_EQ(evaluation.gradient_norms(0).layer(), "weights");
  EXPECT_EQ(evaluation.gradient_norms(1).layer(), "bias");
  EXPECT_DOUBLE_EQ(evaluation.gradient_norms(0).norm(), (10 * 3 + 30) / 40.0);
  EXPECT_DOUBLE_EQ(evaluation.gradient_norms(1).norm(), (10 * 4) / 40.0);
  EXPECT_DOUBLE_EQ(evaluation.gradient_norm(), (10 * 5 + 30) / 40.0);
  EXPECT_EQ(tracker.Begin(40, 0, 0).gradient_norms_size(), 0);  // emptied
}

TEST(EvaluationTracker, GradientNormsThatDoNotFitTheModelAreIgnored) {
  v1::WorkerProgress other_layers = Progress(10, 0.5, 9, 9);
  other_layers.set_gradient_norm_layers(1, "kernel");
  v1::WorkerProgress unpaired = Progress(10, 0.5, 9, 9);
  unpaired.add_gradient_norm_sums(9);
  v1::WorkerProgress no_steps = Progress(10, 0.5, 9, 9);
  no_steps.set_gradient_norm_count(0);
  for (const v1::WorkerProgress& odd : {other_layers, unpaired, no_steps}) {
    EvaluationTracker tracker({});
    tracker.AddProgress({}, Progress(10, 0.5, 3, 4));
    tracker.AddProgress({}, odd);
    const v1::Evaluation evaluation = tracker.Begin(20, 0, 0);
    ASSERT_EQ(evaluation.gradient_norms_size(), 2);
    EXPECT_DOUBLE_EQ(evaluation.gradient_norms(0).norm(), 3);
    EXPECT_DOUBLE_EQ(evaluation.gradient_norms(1).norm(), 4);
    EXPECT_DOUBLE_EQ(evaluation.gradient_norm(), 5);
  }
}

TEST(EvaluationTracker, ScheduleFallsDueEveryStepsOnceStarted) {
  struct Case {
    int64_t every;
    bool started;
    int64_t begun_at;  // step of an evaluation begun first; -1: none
    int64_t step;
    bool due;
  };
  const std::vector<Case> cases = {
      {100, false, -1, 500, false},  // not running yet
      {100, true, -1, 99, false},   {100, true, -1, 100, true},
      {100, true, 100, 199, false}, {100, true, 100, 200, true},
      {100, true, 250, 299, true},  // that was due at 100; 200 has passed
      {100, true, 50, 99, false},   // begun early: moved past 50, to 100
      {0, true, -1, 1000, false},   // no periodic evaluations
  };
  for (const Case& c : cases) {
    EvaluationTrackerOptions options;
    options.eval_every_steps = c.every;
    EvaluationTracker tracker(options);
    if (c.started) tracker.StartSchedule();
    if (c.begun_at >= 0) tracker.Begin(c.begun_at, 0, 0);
    EXPECT_EQ(tracker.Due(c.step), c.due)
        << "every " << c.every << (c.started ? "" : ", not started")
        << ", begun at " << c.begun_at << ", step " << c.step;
  }
}

// 20 over 138 steps once gave 2 evaluations: the coordinator, busy or told
// of the steps late, skipped the boundaries it had passed. Each one that
// passed while workers train gets its evaluation, which records the step it
// saw and the boundary it was due at.
TEST(EvaluationTracker, EveryBoundaryThatPassedFallsDueOnce) {
  EvaluationTrackerOptions options;
  options.eval_every_steps = 20;
  EvaluationTracker tracker(options);
  tracker.StartSchedule();
  EXPECT_FALSE(tracker.Due(19));
  std::vector<std::pair<int64_t, int64_t>> seen;  // due_step, step
  for (int64_t step : {65, 66, 67}) {
    ASSERT_TRUE(tracker.Due(step)) << step;
    const v1::Evaluation evaluation = tracker.Begin(step, 0, 0);
    seen.emplace_back(evaluation.due_step(), evaluation.step());
  }
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, int64_t>>{
                      {20, 65}, {40, 66}, {60, 67}}));
  EXPECT_FALSE(tracker.Due(79));
  EXPECT_TRUE(tracker.Due(80));
  // The final evaluation (every worker done: the parameters no longer
  // change) covers the boundaries still pending; it is due at none.
  const v1::Evaluation last = tracker.Begin(138, 0, 0, /*final=*/true);
  EXPECT_EQ(last.due_step(), 0);
  EXPECT_EQ(last.step(), 138);
  EXPECT_FALSE(tracker.Due(139));
}

// Unset eval_every_steps: about 20 evaluations over the job, at least one
// step apart.
TEST(EvaluationTracker, DefaultIntervalGivesAboutTwentyEvaluations) {
  EXPECT_EQ(DefaultEvalEverySteps(2814), 140);
  EXPECT_EQ(DefaultEvalEverySteps(138), 6);
  EXPECT_EQ(DefaultEvalEverySteps(20), 1);
  EXPECT_EQ(DefaultEvalEverySteps(7), 1);
  EXPECT_EQ(DefaultEvalEverySteps(0), 1);
}

TEST(EvaluationTracker, BestAndPatienceFollowTheTestLoss) {
  struct Case {
    int patience;
    double min_delta;
    std::vector<double> losses;
    std::string best;       // per loss: 'B' the new best, '.' not
    std::string exhausted;  // per loss: 'X' patience ran out, '.' not
  };
  const std::vector<Case> cases = {
      {2, 0.1, {1.0, 0.95, 0.85, 0.8, 0.9, 0.5}, "B.B..B", "....X."},
      {1, 0, {1.0, 1.0, 0.9, 2.0, 2.0}, "B.B..", ".X.XX"},
      {3, 0, {1.0, 1.1, 1.2, 1.3, 1.4}, "B....", "...XX"},
      {0, 0, {1.0, 1.1, 1.2, 0.9}, "B..B", "...."},  // no early stopping
  };
  for (const Case& c : cases) {
    EvaluationTrackerOptions options;
    options.patience = c.patience;
    options.min_delta = c.min_delta;
    EvaluationTracker tracker(options);
    std::string best, exhausted;
    for (double loss : c.losses) {
      const EvaluationTracker::Outcome outcome = Record(tracker, loss);
      EXPECT_TRUE(outcome.divergence.empty()) << outcome.divergence;
      best += outcome.best ? 'B' : '.';
      exhausted += outcome.patience_exhausted ? 'X' : '.';
    }
    EXPECT_EQ(best, c.best) << "patience " << c.patience;
    EXPECT_EQ(exhausted, c.exhausted) << "patience " << c.patience;
  }
}

TEST(EvaluationTracker, TestLossesDivergeWhenNotFiniteOrTooFarAboveTheFirst) {
  struct Case {
    double max_loss_factor;
    std::vector<double> losses;
    std::string diverged;  // per loss: 'D' diverged, '.' not
  };
  const std::vector<Case> cases = {
      {100, {0.5, 40, 50, 60, 1}, "...D."},  // 60 > 100 * 0.5
      {100, {kNaN, 0.5, kInf, -kInf}, "D.DD"},
      {0, {0.5, 1e9, kNaN}, "..D"},  // 0: only non-finite losses diverge
  };
  for (const Case& c : cases) {
    EvaluationTrackerOptions options;
    options.max_loss_factor = c.max_loss_factor;
    EvaluationTracker tracker(options);
    std::string diverged;
    for (double loss : c.losses) {
      diverged += Record(tracker, loss).divergence.empty() ? '.' : 'D';
    }
    EXPECT_EQ(diverged, c.diverged) << "factor " << c.max_loss_factor;
  }
}

TEST(EvaluationTracker, DivergenceSaysWhyAndIsNeverTheBest) {
  EvaluationTrackerOptions options;
  options.patience = 1;
  options.max_loss_factor = 100;
  EvaluationTracker tracker(options);
  EvaluationTracker::Outcome nan = Record(tracker, kNaN, 120);
  EXPECT_EQ(nan.divergence,
            "training diverged: the test loss at step 120 is nan; lower the "
            "learning rate");
  EXPECT_FALSE(nan.best);
  EXPECT_FALSE(nan.patience_exhausted);
  EXPECT_TRUE(Record(tracker, 0.5, 200).best);  // the first finite one
  EvaluationTracker::Outcome exploded = Record(tracker, 60, 300);
  EXPECT_THAT(exploded.divergence,
              HasSubstr("the test loss at step 300 is 60, more than 100 times "
                        "the first evaluation's (0.5)"));
  EXPECT_FALSE(exploded.patience_exhausted);  // not counted towards patience
  EXPECT_TRUE(Record(tracker, 0.7, 400).patience_exhausted);
  EXPECT_EQ(tracker.count(), 4);
}

TEST(EvaluationTracker, ResultIsTheBestWithEarlyStoppingElseTheLast) {
  struct Case {
    int patience;
    std::vector<double> losses;
    double result;  // the result's test loss
  };
  const std::vector<Case> cases = {
      {2, {1.0, 0.4, 0.6}, 0.4},
      {0, {1.0, 0.4, 0.6}, 0.6},
      {2, {kInf, kInf}, kInf},  // none was the best: the last
  };
  for (const Case& c : cases) {
    EvaluationTrackerOptions options;
    options.patience = c.patience;
    EvaluationTracker tracker(options);
    EXPECT_EQ(tracker.result(), nullptr);
    EXPECT_EQ(tracker.last(), nullptr);
    int64_t step = 0;
    for (double loss : c.losses) Record(tracker, loss, step += 100);
    ASSERT_NE(tracker.result(), nullptr);
    EXPECT_EQ(tracker.result()->test_loss(), c.result)
        << "patience " << c.patience;
    EXPECT_EQ(tracker.last()->step(), step);
    EXPECT_EQ(tracker.count(), static_cast<int>(c.losses.size()));
    EXPECT_EQ(tracker.early_stopping(), c.patience > 0);
  }
}

}  // namespace
}  // namespace descent
