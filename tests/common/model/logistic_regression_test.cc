#include "common/model/logistic_regression.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/common/model/linear_model_reference.h"
#include "tests/common/model/linear_model_test_suite.h"

namespace descent {
namespace {

struct LogisticRegressionCase : LinearModelCase {
  using Model = LogisticRegression;
  static int Outputs(int) { return 1; }

  static Model Make(int64_t features, int, int max_batch, int threads,
                    Penalty penalty) {
    return Model(features, max_batch, threads, penalty.l2, penalty.l1);
  }
  // Labels 0 or 1, whatever `classes`.
  static Problem RandomProblem(int64_t features, int, int batch,
                               uint32_t seed) {
    return DrawProblem(features, 1, batch, seed, ExampleDraw::kBinaryLabels,
                       ParamDraw::kAwayFromZero);
  }
  // -log P(label | z) by the textbook formula, in double; for moderate z
  // only.
  static double ReferenceLoss(const Problem& p, int64_t i,
                              const std::vector<double>& scores) {
    const double p1 = 1 / (1 + std::exp(-scores[0]));
    return p.y[i] == 1 ? -std::log(p1) : -std::log(1 - p1);
  }
  // The sign of the logit.
  static bool ReferenceCorrect(const Problem& p, int64_t i,
                               const std::vector<double>& scores) {
    return (scores[0] > 0) == (p.y[i] == 1);
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(LogisticRegression, LinearModelTest,
                               LogisticRegressionCase);
INSTANTIATE_TYPED_TEST_SUITE_P(LogisticRegression, LinearModelL1Test,
                               LogisticRegressionCase);
INSTANTIATE_TYPED_TEST_SUITE_P(LogisticRegression, LinearModelDeathTest,
                               LogisticRegressionCase);
INSTANTIATE_TYPED_TEST_SUITE_P(LogisticRegression, LinearClassifierDeathTest,
                               LogisticRegressionCase);

TEST(LogisticRegression, LargeLogitsStayFiniteAndExact) {
  // |z| in the thousands: exp(|z|) overflows, the stable form does not.
  Problem p = LogisticRegressionCase::RandomProblem(4, 1, 6, 2);
  for (float& v : p.params) v *= 2000.0f;
  std::vector<float> grad;
  const float loss =
      KernelLoss<LogisticRegressionCase>(p, 2, Penalty{0, 0}, &grad);
  double expected = 0;
  for (int i = 0; i < p.batch; ++i) {
    const double z = ReferenceScores(p, ToDouble(p.params), i)[0];
    expected += std::max(z, 0.0) - z * p.y[i];  // log1p(exp(-|z|)) ~ 0
  }
  EXPECT_NEAR(loss, expected / p.batch, 1e-5 * (1 + expected / p.batch));
  for (float g : grad) ASSERT_TRUE(std::isfinite(g));
}

TEST(LogisticRegression, SgdSeparatesPlantedClasses) {
  const int64_t features = 8;
  const int n = 2000, batch = 25;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> planted(features + 1);
  for (float& v : planted) v = normal(rng);
  Problem data{features,
               1,
               n,
               std::vector<float>(n * features),
               std::vector<int32_t>(n),
               {},
               planted};
  for (float& v : data.x) v = normal(rng);
  for (int i = 0; i < n; ++i) {
    const double z = ReferenceScores(data, ToDouble(planted), i)[0];
    data.y[i] = z + 0.2 * normal(rng) > 0;  // a little label noise
  }
  LogisticRegression model(features, batch, 2, /*l2=*/1e-4f);
  // Trains on the first 1500 examples, tests on the last 500.
  const std::vector<float> params =
      TrainBySgd(model, data, 1500, batch, 0.5f, 5);
  const EvalResult held_out =
      model.Evaluate(params.data(), data.Rows(1500, 500));
  EXPECT_GT(held_out.correct, 0.9 * 500);
}

}  // namespace
}  // namespace descent
