// The behaviours every dense linear model shares, as type-parameterized
// GoogleTest suites over the Cases of linear_model_reference.h. Each model's
// test file defines its Case and instantiates the suites for it:
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(LinearSvm, LinearModelTest, LinearSvmCase);
//   INSTANTIATE_TYPED_TEST_SUITE_P(LinearSvm, LinearModelDeathTest,
//                                  LinearSvmCase);
//
// plus LinearModelL1Test if its model takes an l1 penalty and
// LinearClassifierDeathTest if it is a classifier (a suite a binary leaves
// out is named in GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST there),
// and keeps the tests only its model has. The suites cover: loss and
// gradient against the reference and central differences, with every
// penalty the model takes; results that depend neither on the thread count
// nor on the call; batches of one, of fewer rows than the max batch (empty
// chunks) and of a bad size; Evaluate against the reference, over a partial
// last slice and over nothing; the layout; the thread count; the caller's
// OpenMP setting; the l1 subgradient; labels out of range.
#ifndef DESCENT_TESTS_COMMON_MODEL_LINEAR_MODEL_TEST_SUITE_H_
#define DESCENT_TESTS_COMMON_MODEL_LINEAR_MODEL_TEST_SUITE_H_

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/model/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/model/linear_model_reference.h"

namespace descent {

// One row of the suites' tables of problem sizes.
struct Shape {
  int64_t features;
  int classes;  // ignored by models with one output
  int batch;
};

template <typename Case>
class LinearModelTest : public ::testing::Test {};
TYPED_TEST_SUITE_P(LinearModelTest);

TYPED_TEST_P(LinearModelTest, LayoutIsWeightsThenZeroBias) {
  using Case = TypeParam;
  auto model = Case::Make(6, 4, 8, 2, Penalty{0, 0});
  const int outputs = Case::Outputs(4);
  const int64_t weights = 6 * outputs;
  const ParamLayout& layout = model.layout();
  ASSERT_EQ(layout.tensors().size(), 2u);
  EXPECT_EQ(layout.tensors()[0].name, "weights");
  const std::vector<int64_t> weight_shape =
      outputs == 1 ? std::vector<int64_t>{6} : std::vector<int64_t>{6, outputs};
  EXPECT_EQ(layout.tensors()[0].shape, weight_shape);
  EXPECT_EQ(layout.tensors()[1].name, "bias");
  EXPECT_EQ(layout.tensors()[1].shape, (std::vector<int64_t>{outputs}));
  EXPECT_EQ(layout.offset(1), weights);
  EXPECT_EQ(layout.size(), weights + outputs);
  for (int64_t i = weights; i < layout.size(); ++i) {
    EXPECT_EQ(layout.InitialValue(1, i), 0);
  }
  if (Case::kZeroInitialWeights) {
    for (int64_t i = 0; i < weights; ++i) {
      EXPECT_EQ(layout.InitialValue(1, i), 0);
    }
  } else {
    EXPECT_NE(layout.InitialValue(1, 0), 0);
  }
  EXPECT_EQ(model.is_classifier(), Case::kIsClassifier);
}

// Loss and gradient on 2 and 3 threads, with every penalty, against the
// reference and central differences.
TYPED_TEST_P(LinearModelTest, LossAndGradientMatchTheReference) {
  using Case = TypeParam;
  const Shape shapes[] = {{1, 2, 1},    {3, 2, 5},  {7, 4, 9},
                          {20, 10, 33}, {5, 3, 64}, {64, 1, 4}};
  uint32_t seed = 1;
  for (const Shape& s : shapes) {
    for (const Penalty& penalty : Penalties<Case>()) {
      SCOPED_TRACE(testing::Message()
                   << s.features << "x" << s.classes << " batch " << s.batch
                   << ", l2 " << penalty.l2 << ", l1 " << penalty.l1);
      Problem p = Case::RandomProblem(s.features, s.classes, s.batch, seed++);
      while (!Case::IsSmooth(p)) {
        p = Case::RandomProblem(s.features, s.classes, s.batch, seed++);
      }
      const double expected =
          ReferenceMeanLoss<Case>(p, ToDouble(p.params), penalty);
      for (int threads : {2, 3}) {
        SCOPED_TRACE(testing::Message() << "threads " << threads);
        std::vector<float> grad;
        EXPECT_NEAR(KernelLoss<Case>(p, threads, penalty, &grad), expected,
                    1e-5 * (1 + expected));
        ExpectGradientMatchesFiniteDifferences<Case>(p, penalty, grad);
      }
    }
  }
}

TYPED_TEST_P(LinearModelTest, BatchOfOneMatchesTheReference) {
  using Case = TypeParam;
  uint32_t seed = 5;
  Problem p = Case::RandomProblem(6, 3, 1, seed++);
  while (!Case::IsSmooth(p)) p = Case::RandomProblem(6, 3, 1, seed++);
  for (const Penalty& penalty : Penalties<Case>()) {
    std::vector<float> grad;
    const double expected =
        ReferenceMeanLoss<Case>(p, ToDouble(p.params), penalty);
    EXPECT_NEAR(KernelLoss<Case>(p, 4, penalty, &grad), expected,
                1e-5 * (1 + expected));
    ExpectGradientMatchesFiniteDifferences<Case>(p, penalty, grad);
  }
}

TYPED_TEST_P(LinearModelTest, ThreadCountDoesNotChangeResults) {
  using Case = TypeParam;
  // 31 examples split unevenly over 2 and 3 chunks; 8 threads for a max
  // batch of 5 are capped at 5 chunks.
  for (const Shape& s : {Shape{17, 5, 31}, Shape{4, 3, 5}}) {
    const Problem p = Case::RandomProblem(s.features, s.classes, s.batch, 7);
    for (const Penalty& penalty : Penalties<Case>()) {
      std::vector<float> reference;
      const float loss = KernelLoss<Case>(p, 1, penalty, &reference);
      for (int threads : {2, 3, 8}) {
        SCOPED_TRACE(testing::Message()
                     << "batch " << s.batch << ", threads " << threads
                     << ", l2 " << penalty.l2 << ", l1 " << penalty.l1);
        std::vector<float> grad;
        EXPECT_NEAR(KernelLoss<Case>(p, threads, penalty, &grad), loss, 1e-5);
        EXPECT_THAT(grad,
                    testing::Pointwise(testing::FloatNear(1e-5), reference));
      }
    }
  }
}

TYPED_TEST_P(LinearModelTest, BatchSmallerThanMaxLeavesChunksEmpty) {
  using Case = TypeParam;
  const Problem p = Case::RandomProblem(9, 4, 2, 21);
  auto model = Case::Make(9, 4, /*max_batch=*/12, /*threads=*/4, {0, 0});
  std::vector<float> grad(model.layout().size());
  const float loss =
      model.LossAndGradient(p.params.data(), p.AsBatch(), grad.data());
  std::vector<float> expected;
  EXPECT_NEAR(loss, KernelLoss<Case>(p, 1, {0, 0}, &expected), 1e-5);
  EXPECT_THAT(grad, testing::Pointwise(testing::FloatNear(1e-6), expected));
}

TYPED_TEST_P(LinearModelTest, RepeatedCallsGiveTheSameAnswer) {
  using Case = TypeParam;
  const Problem p = Case::RandomProblem(12, 5, 20, 9);
  auto model = Case::Make(12, 5, 20, 3, Penalties<Case>().back());
  std::vector<float> first(model.layout().size()), second(first.size());
  const float loss =
      model.LossAndGradient(p.params.data(), p.AsBatch(), first.data());
  EXPECT_EQ(model.LossAndGradient(p.params.data(), p.AsBatch(), second.data()),
            loss);
  EXPECT_EQ(first, second);
}

// Evaluate sums the reference's losses, unpenalized, and counts what it
// predicts right.
TYPED_TEST_P(LinearModelTest, EvaluateMatchesTheReference) {
  using Case = TypeParam;
  // 250 examples in chunks of 32: the last chunk is partial.
  const Problem p = Case::RandomProblem(8, 6, 250, 33);
  auto model = Case::Make(8, 6, /*max_batch=*/32, /*threads=*/3,
                          Penalty{0.5f, Case::kHasL1 ? 0.5f : 0});
  const EvalResult result = model.Evaluate(p.params.data(), p.AsBatch());
  const std::vector<double> params = ToDouble(p.params);
  int64_t correct = 0;
  double loss_sum = 0;
  for (int i = 0; i < 250; ++i) {
    const std::vector<double> scores = ReferenceScores(p, params, i);
    correct += Case::ReferenceCorrect(p, i, scores);
    loss_sum += Case::ReferenceLoss(p, i, scores);
  }
  EXPECT_EQ(result.count, 250);
  EXPECT_EQ(result.correct, correct);
  if (model.is_classifier()) {
    EXPECT_GT(correct, 0);
  }
  EXPECT_NEAR(result.loss_sum, loss_sum, 1e-5 * loss_sum);
}

TYPED_TEST_P(LinearModelTest, EvaluateOfNothingIsEmpty) {
  auto model = TypeParam::Make(3, 2, 4, 2, Penalty{0, 0});
  std::vector<float> params(model.layout().size());
  const EvalResult result =
      model.Evaluate(params.data(), Batch{nullptr, nullptr, 0});
  EXPECT_EQ(result.count, 0);
  EXPECT_EQ(result.correct, 0);
  EXPECT_EQ(result.loss_sum, 0);
}

TYPED_TEST_P(LinearModelTest, NonPositiveThreadsMeansOnePerProcessor) {
  using Case = TypeParam;
  EXPECT_EQ(Case::Make(2, 2, 1000, 0, {0, 0}).threads(),
            std::min(omp_get_num_procs(), 1000));
  EXPECT_EQ(Case::Make(2, 2, 1000, -1, {0, 0}).threads(),
            std::min(omp_get_num_procs(), 1000));
  // Never more threads than examples in a batch.
  EXPECT_EQ(Case::Make(2, 2, 3, 16, {0, 0}).threads(), 3);
}

TYPED_TEST_P(LinearModelTest, LeavesCallersOpenMpSettingAlone) {
  using Case = TypeParam;
  const int before = omp_get_max_threads();
  const Problem p = Case::RandomProblem(5, 3, 10, 4);
  std::vector<float> grad;
  KernelLoss<Case>(p, 1, {0, 0}, &grad);
  KernelLoss<Case>(p, 3, {0, 0}, &grad);
  EXPECT_EQ(omp_get_max_threads(), before);
}

REGISTER_TYPED_TEST_SUITE_P(
    LinearModelTest, LayoutIsWeightsThenZeroBias,
    LossAndGradientMatchTheReference, BatchOfOneMatchesTheReference,
    ThreadCountDoesNotChangeResults, BatchSmallerThanMaxLeavesChunksEmpty,
    RepeatedCallsGiveTheSameAnswer, EvaluateMatchesTheReference,
    EvaluateOfNothingIsEmpty, NonPositiveThreadsMeansOnePerProcessor,
    LeavesCallersOpenMpSettingAlone);

// For models that take an l1 penalty (kHasL1) only.
template <typename Case>
class LinearModelL1Test : public ::testing::Test {};
TYPED_TEST_SUITE_P(LinearModelL1Test);

// With l1, a weight at exactly 0 gets no l1 subgradient, every other weight
// +-l1, the bias nothing.
TYPED_TEST_P(LinearModelL1Test, SubgradientIsZeroAtZeroWeights) {
  using Case = TypeParam;
  Problem p = Case::RandomProblem(5, 3, 7, 3);
  p.params[1] = 0;
  p.params[3] = 0;
  std::vector<float> plain, with_l1;
  KernelLoss<Case>(p, 2, Penalty{0, 0}, &plain);
  KernelLoss<Case>(p, 2, Penalty{0, 0.5f}, &with_l1);
  for (int64_t j = 0; j < static_cast<int64_t>(p.params.size()); ++j) {
    if (j == 1 || j == 3 || j >= p.num_weights()) {
      EXPECT_EQ(with_l1[j], plain[j]) << "parameter " << j;
    } else {
      EXPECT_NEAR(with_l1[j] - plain[j], p.params[j] > 0 ? 0.5f : -0.5f, 1e-6)
          << "parameter " << j;
    }
  }
}

REGISTER_TYPED_TEST_SUITE_P(LinearModelL1Test, SubgradientIsZeroAtZeroWeights);

template <typename Case>
class LinearModelDeathTest : public ::testing::Test {};
TYPED_TEST_SUITE_P(LinearModelDeathTest);

TYPED_TEST_P(LinearModelDeathTest, RejectsBadBatchSizes) {
  using Case = TypeParam;
  const Problem p = Case::RandomProblem(3, 2, 5, 8);
  auto model = Case::Make(3, 2, /*max_batch=*/4, 1, {0, 0});
  std::vector<float> grad(model.layout().size());
  Batch batch = p.AsBatch();
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), batch, grad.data()),
               "batch of 5");
  batch.size = 0;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), batch, grad.data()),
               "batch of 0");
}

REGISTER_TYPED_TEST_SUITE_P(LinearModelDeathTest, RejectsBadBatchSizes);

// For classifiers (kIsClassifier) only.
template <typename Case>
class LinearClassifierDeathTest : public ::testing::Test {};
TYPED_TEST_SUITE_P(LinearClassifierDeathTest);

// A label outside [0, 2) for a two-class problem, in training or in
// evaluation, names itself and its example.
TYPED_TEST_P(LinearClassifierDeathTest, RejectsLabelsOutOfRange) {
  using Case = TypeParam;
  Problem p = Case::RandomProblem(3, 2, 4, 8);
  auto model = Case::Make(3, 2, 4, 1, {0, 0});
  std::vector<float> grad(model.layout().size());
  p.y[2] = 2;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), p.AsBatch(), grad.data()),
               "label 2 of example 2");
  p.y[2] = -1;
  EXPECT_DEATH(model.Evaluate(p.params.data(), p.AsBatch()),
               "label -1 of example 2");
}

REGISTER_TYPED_TEST_SUITE_P(LinearClassifierDeathTest, RejectsLabelsOutOfRange);

}  // namespace descent

#endif  // DESCENT_TESTS_COMMON_MODEL_LINEAR_MODEL_TEST_SUITE_H_
