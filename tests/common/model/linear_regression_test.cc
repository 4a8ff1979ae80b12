#include "common/model/linear_regression.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/common/model/linear_model_reference.h"
#include "tests/common/model/linear_model_test_suite.h"

namespace descent {
namespace {

struct LinearRegressionCase : LinearModelCase {
  using Model = LinearRegression;
  static int Outputs(int) { return 1; }
  static constexpr bool kIsClassifier = false;

  static Model Make(int64_t features, int, int max_batch, int threads,
                    Penalty penalty) {
    return Model(features, max_batch, threads, penalty.l2, penalty.l1);
  }
  static Problem RandomProblem(int64_t features, int, int batch,
                               uint32_t seed) {
    return DrawProblem(features, 1, batch, seed, ExampleDraw::kTargets,
                       ParamDraw::kAwayFromZero);
  }
  // The squared error; never "correct".
  static double ReferenceLoss(const Problem& p, int64_t i,
                              const std::vector<double>& scores) {
    const double error = scores[0] - p.targets[i];
    return error * error;
  }
  static bool ReferenceCorrect(const Problem&, int64_t,
                               const std::vector<double>&) {
    return false;
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(LinearRegression, LinearModelTest,
                               LinearRegressionCase);
INSTANTIATE_TYPED_TEST_SUITE_P(LinearRegression, LinearModelL1Test,
                               LinearRegressionCase);
INSTANTIATE_TYPED_TEST_SUITE_P(LinearRegression, LinearModelDeathTest,
                               LinearRegressionCase);
// A regression model reads targets, not labels.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LinearClassifierDeathTest);

TEST(LinearRegression, SgdRecoversPlantedWeights) {
  const int64_t features = 10;
  const int n = 2000, batch = 20;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> planted(features + 1);
  for (float& v : planted) v = normal(rng);
  Problem data{features, 1,
               n,        std::vector<float>(n * features),
               {},       std::vector<float>(n),
               planted};
  for (float& v : data.x) v = normal(rng);
  for (int i = 0; i < n; ++i) {
    data.targets[i] = static_cast<float>(
        ReferenceScores(data, ToDouble(planted), i)[0] + 0.01 * normal(rng));
  }
  LinearRegression model(features, batch, 2);
  const std::vector<float> params = TrainBySgd(model, data, n, batch, 0.05f, 5);
  double error = 0, norm = 0;
  for (int64_t f = 0; f < features; ++f) {
    error += (params[f] - planted[f]) * (params[f] - planted[f]);
    norm += planted[f] * planted[f];
  }
  EXPECT_LT(std::sqrt(error / norm), 0.02);
}

TEST(LinearRegressionDeathTest, RejectsBatchesWithoutTargets) {
  const Problem p = LinearRegressionCase::RandomProblem(3, 1, 4, 8);
  LinearRegression model(3, 4, 1);
  std::vector<float> grad(model.layout().size());
  Batch batch = p.AsBatch();
  batch.targets = nullptr;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), batch, grad.data()),
               "without targets");
  EXPECT_DEATH(model.Evaluate(p.params.data(), batch), "without targets");
}

}  // namespace
}  // namespace descent
