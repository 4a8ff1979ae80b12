#include "common/model/linear_svm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/model/linear_model_reference.h"
#include "tests/common/model/linear_model_test_suite.h"

namespace descent {
namespace {

// y_c * s_c for every class, y_c = +1 for the label and -1 otherwise.
std::vector<double> Margins(const std::vector<double>& s, int label) {
  std::vector<double> m(s.size());
  for (size_t c = 0; c < s.size(); ++c) {
    m[c] = (static_cast<int>(c) == label ? 1 : -1) * s[c];
  }
  return m;
}

struct LinearSvmCase : LinearModelCase {
  using Model = LinearSvm;

  static Model Make(int64_t features, int classes, int max_batch, int threads,
                    Penalty penalty) {
    return Model(features, classes, max_batch, threads, penalty.l2, penalty.l1);
  }
  static Problem RandomProblem(int64_t features, int classes, int batch,
                               uint32_t seed) {
    return DrawProblem(features, classes, batch, seed,
                       ExampleDraw::kClassLabels, ParamDraw::kAwayFromZero);
  }
  // The sum of the one-vs-rest hinges.
  static double ReferenceLoss(const Problem& p, int64_t i,
                              const std::vector<double>& scores) {
    double loss = 0;
    for (double m : Margins(scores, p.y[i])) loss += std::max(0.0, 1 - m);
    return loss;
  }
  // The first highest score is the label's.
  static bool ReferenceCorrect(const Problem& p, int64_t i,
                               const std::vector<double>& scores) {
    return std::max_element(scores.begin(), scores.end()) - scores.begin() ==
           p.y[i];
  }
  // Every margin at least 1e-3 from the hinge's kink at 1.
  static bool IsSmooth(const Problem& p) {
    for (int i = 0; i < p.batch; ++i) {
      for (double m :
           Margins(ReferenceScores(p, ToDouble(p.params), i), p.y[i])) {
        if (std::abs(m - 1) <= 1e-3) return false;
      }
    }
    return true;
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(LinearSvm, LinearModelTest, LinearSvmCase);
INSTANTIATE_TYPED_TEST_SUITE_P(LinearSvm, LinearModelL1Test, LinearSvmCase);
INSTANTIATE_TYPED_TEST_SUITE_P(LinearSvm, LinearModelDeathTest, LinearSvmCase);
INSTANTIATE_TYPED_TEST_SUITE_P(LinearSvm, LinearClassifierDeathTest,
                               LinearSvmCase);

TEST(LinearSvm, SubgradientIsZeroAtMarginOneAndAtZeroWeights) {
  // W = 0 and b = (-1, 1, -1): every margin of a label-1 example is exactly
  // 1, so the loss is 0 and the hinge's subgradient taken is 0; l1 adds
  // nothing at W = 0.
  Problem p = LinearSvmCase::RandomProblem(4, 3, 5, 11);
  std::fill(p.params.begin(), p.params.end(), 0.0f);
  p.params[12] = -1;
  p.params[13] = 1;
  p.params[14] = -1;
  std::fill(p.y.begin(), p.y.end(), 1);
  std::vector<float> grad;
  EXPECT_EQ(KernelLoss<LinearSvmCase>(p, 2, Penalty{0.3f, 0.5f}, &grad), 0);
  EXPECT_THAT(grad, testing::Each(0.0f));
}

TEST(LinearSvm, EvaluateBreaksTiesTowardTheFirstClass) {
  // W = 0, b = (0.5, 0.5, 0.1): every example scores classes 0 and 1 alike.
  Problem p = LinearSvmCase::RandomProblem(3, 3, 6, 5);
  std::fill(p.params.begin(), p.params.end(), 0.0f);
  p.params[9] = 0.5f;
  p.params[10] = 0.5f;
  p.params[11] = 0.1f;
  p.y = {0, 1, 2, 0, 1, 0};
  LinearSvm model(3, 3, 4, 2);
  EXPECT_EQ(model.Evaluate(p.params.data(), p.AsBatch()).correct, 3);
}

TEST(LinearSvm, SgdSeparatesThreeBlobs) {
  const int64_t features = 5;
  const int classes = 3, n = 1500, batch = 30;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0, 1);
  Problem data{features, classes, n, {}, {}, {}, {}};
  data.x.resize(n * features);
  data.y.resize(n);
  // Blob c is centred at 3 e_c, spread 0.7 in every direction.
  for (int i = 0; i < n; ++i) {
    data.y[i] = i % classes;
    for (int64_t f = 0; f < features; ++f) {
      data.x[i * features + f] = normal(rng) * 0.7f + (f == data.y[i] ? 3 : 0);
    }
  }
  LinearSvm model(features, classes, batch, 2, /*l2=*/1e-3f);
  // Trains on the first 1200 examples, tests on the last 300.
  const std::vector<float> params =
      TrainBySgd(model, data, 1200, batch, 0.1f, 5);
  const EvalResult held_out =
      model.Evaluate(params.data(), data.Rows(1200, 300));
  EXPECT_GT(held_out.correct, 0.9 * 300);
}

}  // namespace
}  // namespace descent
