// Evaluator: what it pulls and what it reports, for a dense and a sparse
// model, checked against the models' own Evaluate and a hand count.
#include "server/coordinator/evaluator.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "common/model/linear_regression.h"
#include "common/model/sparse_models.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

TEST(EvaluatorTest, DenseRegressionReportsLossAndRmse) {
  Dataset test;
  test.num_examples = 2;
  test.num_features = 1;
  test.features = {1, 2};
  test.targets = {1, 5};
  Evaluator evaluator(std::make_unique<LinearRegression>(1, 2, 1), test);
  bool asked_rows = true;
  v1::Evaluation evaluation;
  ASSERT_TRUE(evaluator
                  .Evaluate(
                      [&](float* params, const PsClient::Rows* rows) {
                        asked_rows = rows != nullptr;
                        params[0] = 2;  // weight
                        params[1] = 0;  // bias
                        return absl::OkStatus();
                      },
                      &evaluation)
                  .ok());
  EXPECT_FALSE(asked_rows);
  // Predictions 2 and 4: the model's loss on them, averaged.
  LinearRegression model(1, 2, 1);
  const std::vector<float> params = {2, 0};
  const EvalResult direct = model.Evaluate(
      params.data(),
      Batch{test.features.data(), nullptr, 2, test.targets.data()});
  EXPECT_DOUBLE_EQ(evaluation.test_loss(), direct.loss_sum / 2);
  EXPECT_DOUBLE_EQ(evaluation.test_rmse(), std::sqrt(direct.loss_sum / 2));
  EXPECT_EQ(evaluator.params(), params);
  EXPECT_EQ(evaluator.row_width(), 0);
  // A regression model has no accuracy or AUC: unset, not 0.
  EXPECT_FALSE(evaluation.has_test_accuracy());
  EXPECT_FALSE(evaluation.has_test_auc());
  EXPECT_FALSE(evaluation.has_validation_loss());
}

TEST(EvaluatorTest, OnTheValidationSplitTheFiguresAreValidationFields) {
  Dataset validation;
  validation.num_examples = 1;
  validation.num_features = 1;
  validation.features = {1};
  validation.targets = {3};
  Evaluator evaluator(std::make_unique<LinearRegression>(1, 1, 1), validation,
                      Evaluator::Split::kValidation);
  v1::Evaluation evaluation;
  ASSERT_TRUE(evaluator
                  .Evaluate(
                      [](float* params, const PsClient::Rows*) {
                        params[0] = 1;  // predicts 1 for 3
                        params[1] = 0;
                        return absl::OkStatus();
                      },
                      &evaluation)
                  .ok());
  EXPECT_DOUBLE_EQ(evaluation.validation_rmse(), 2);
  EXPECT_TRUE(evaluation.has_validation_loss());
  EXPECT_FALSE(evaluation.has_validation_accuracy());
  EXPECT_FALSE(evaluation.has_test_loss());
  EXPECT_FALSE(evaluation.has_test_rmse());
}

// Two examples over keys {9, 4} and {4}; labels 1 and 0.
SparseDataset TwoSparseExamples() {
  SparseDataset test;
  test.num_examples = 2;
  test.num_features = 10;
  test.num_classes = 2;
  test.row_offsets = {0, 2, 3};
  test.indices = {9, 4, 4};
  test.values = {1, 1, 1};
  test.labels = {1, 0};
  return test;
}

// A pull that records the keys asked for and answers dense parameter 0
// and these rows (one float each), in key order.
Evaluator::PullFn PullRows(std::vector<float> answer,
                           std::vector<uint64_t>* asked) {
  return [answer, asked](float* params, const PsClient::Rows* rows) {
    *asked = *rows->pull_keys;
    params[0] = 0;
    std::copy(answer.begin(), answer.end(), rows->pulled);
    return absl::OkStatus();
  };
}

// The test loss of TwoSparseExamples at logits 2 and -1.
double TwoExamplesLoss() {
  return (std::log1p(std::exp(-2.0)) + std::log1p(std::exp(-1.0))) / 2;
}

TEST(EvaluatorTest, SparseClassifierPullsTheTestKeysRowsOnce) {
  Evaluator evaluator(std::make_unique<SparseLogisticRegression>(4),
                      TwoSparseExamples());
  v1::Evaluation evaluation;
  std::vector<uint64_t> asked;
  // w_4 = -1, w_9 = 3: logits 2 and -1, both right.
  ASSERT_TRUE(evaluator.Evaluate(PullRows({-1, 3}, &asked), &evaluation).ok());
  EXPECT_EQ(asked, (std::vector<uint64_t>{4, 9}));
  EXPECT_EQ(evaluator.keys(), asked);
  EXPECT_EQ(evaluator.rows(), (std::vector<float>{-1, 3}));
  EXPECT_EQ(evaluator.row_width(), 1);
  EXPECT_DOUBLE_EQ(evaluation.test_accuracy(), 1.0);
  EXPECT_DOUBLE_EQ(evaluation.test_auc(), 1.0);
  EXPECT_NEAR(evaluation.test_loss(), TwoExamplesLoss(), 1e-6);
}

// Extra keys (another split's) are pulled and kept with the examples' own;
// the figures are the same.
TEST(EvaluatorTest, SparseExtraKeysArePulledAndKept) {
  Evaluator evaluator(std::make_unique<SparseLogisticRegression>(4),
                      TwoSparseExamples(), Evaluator::Split::kTest, {7, 9});
  v1::Evaluation evaluation;
  std::vector<uint64_t> asked;
  // Rows of keys 4, 7 and 9.
  ASSERT_TRUE(
      evaluator.Evaluate(PullRows({-1, 5, 3}, &asked), &evaluation).ok());
  EXPECT_EQ(asked, (std::vector<uint64_t>{4, 7, 9}));
  EXPECT_EQ(evaluator.rows(), (std::vector<float>{-1, 5, 3}));
  EXPECT_DOUBLE_EQ(evaluation.test_accuracy(), 1.0);
  EXPECT_NEAR(evaluation.test_loss(), TwoExamplesLoss(), 1e-6);
}

TEST(EvaluatorTest, AFailedPullLeavesTheEvaluationUnchanged) {
  Evaluator evaluator(std::make_unique<SparseLogisticRegression>(4),
                      TwoSparseExamples());
  v1::Evaluation evaluation;
  evaluation.set_test_loss(7);
  absl::Status status = evaluator.Evaluate(
      [](float*, const PsClient::Rows*) {
        return absl::UnavailableError("shard gone");
      },
      &evaluation);
  EXPECT_TRUE(absl::IsUnavailable(status));
  EXPECT_EQ(evaluation.test_loss(), 7);
}

}  // namespace
}  // namespace descent
