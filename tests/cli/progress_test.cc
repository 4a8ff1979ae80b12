#include "cli/progress.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::JobConfig Config() {
  v1::JobConfig config;
  config.mutable_cluster()->set_num_servers(2);
  config.mutable_cluster()->set_num_workers(2);
  config.mutable_train()->set_epochs(3);
  return config;
}

TEST(ProgressDisplayTest, RegisteringCountsMembersButNotTheCoordinator) {
  v1::JobStatus status;
  status.set_state(v1::REGISTERING);
  status.add_members();  // the coordinator
  status.add_members();
  EXPECT_EQ(ProgressDisplay(Config()).Format(status),
            "registering: 1 of 4 servers and workers");
}

TEST(ProgressDisplayTest, RunningShowsStepEpochLossAccuracyRateAndEta) {
  v1::JobStatus status;
  status.set_state(v1::RUNNING);
  status.set_global_step(1200);
  status.set_epoch(1.5);
  status.set_train_loss(0.52134);
  status.set_examples(90000);
  status.set_total_examples(180000);
  status.set_samples_per_second(30000);
  status.mutable_last_evaluation()->set_test_accuracy(0.8123);
  EXPECT_EQ(ProgressDisplay(Config()).Format(status),
            "step 1200 | epoch 1.50/3 | loss 0.5213 | test acc 0.8123 | "
            "30000 samples/s | ETA 3s");
}

TEST(ProgressDisplayTest, NoAccuracyOrEtaBeforeTheyAreKnown) {
  v1::JobStatus status;
  status.set_state(v1::RUNNING);
  const std::string line = ProgressDisplay(Config()).Format(status);
  EXPECT_THAT(line, Not(HasSubstr("test acc")));
  EXPECT_THAT(line, Not(HasSubstr("ETA")));
}

TEST(PrintResultTest, ExitCodeFollowsTheSummary) {
  const std::string dir = ::testing::TempDir() + "/progress_test";
  std::filesystem::create_directories(dir);
  EXPECT_EQ(PrintResult(dir + "/missing"), 5);
  std::ofstream(dir + "/summary.json")
      << R"({"state": "SUCCEEDED", "test_accuracy": 0.84})";
  EXPECT_EQ(PrintResult(dir), 0);
  std::ofstream(dir + "/summary.json") << R"({"state": "FAILED"})";
  EXPECT_EQ(PrintResult(dir), 5);
  std::ofstream(dir + "/summary.json") << "not json";
  EXPECT_EQ(PrintResult(dir), 5);
}

// Regression printed "test_accuracy: 0.0000": only what applies is printed.
TEST(PrintResultTest, PrintsOnlyTheFiguresTheJobHas) {
  v1::JobSummary regression;
  regression.set_state("SUCCEEDED");
  regression.set_test_loss(3400);
  regression.set_test_rmse(58.3);
  regression.set_selected_on("test");
  const std::string text = FormatResult(regression, "/out");
  EXPECT_THAT(text, HasSubstr("test_rmse: 58.300000\n"));
  EXPECT_THAT(text, HasSubstr("test_loss: 3400.0000\n"));
  EXPECT_THAT(text, HasSubstr("selected_on: test\n"));
  EXPECT_THAT(text, Not(HasSubstr("accuracy")));
  EXPECT_THAT(text, Not(HasSubstr("auc")));
  EXPECT_THAT(text, Not(HasSubstr("best_step")));

  v1::JobSummary classifier;
  classifier.set_state("SUCCEEDED");
  classifier.set_test_accuracy(0);  // present: a real 0
  classifier.set_validation_accuracy(0.9);
  classifier.set_best_step(40);
  classifier.set_stopped_early(false);
  const std::string printed = FormatResult(classifier, "/out");
  EXPECT_THAT(printed, HasSubstr("test_accuracy: 0.0000\n"));
  EXPECT_THAT(printed, HasSubstr("validation_accuracy: 0.900000\n"));
  EXPECT_THAT(printed, HasSubstr("best_step: 40\nstopped_early: false\n"));
  EXPECT_THAT(printed, Not(HasSubstr("rmse")));
}

}  // namespace
}  // namespace descent
