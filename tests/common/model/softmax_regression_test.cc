#include "common/model/softmax_regression.h"

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

struct SoftmaxRegressionCase : LinearModelCase {
  using Model = SoftmaxRegression;
  static constexpr bool kHasL1 = false;
  static constexpr bool kZeroInitialWeights = false;  // Xavier uniform

  static Model Make(int64_t features, int classes, int max_batch, int threads,
                    Penalty penalty) {
    return Model(features, classes, max_batch, threads,
                 InitRule::kXavierUniform, penalty.l2);
  }
  static Problem RandomProblem(int64_t features, int classes, int batch,
                               uint32_t seed) {
    return DrawProblem(features, classes, batch, seed,
                       ExampleDraw::kClassLabels, ParamDraw::kUniform);
  }
  // -log softmax(z)[label], in double.
  static double ReferenceLoss(const Problem& p, int64_t i,
                              const std::vector<double>& z) {
    const double max = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (double v : z) sum += std::exp(v - max);
    return std::log(sum) + max - z[p.y[i]];
  }
  // The first highest logit is the label's.
  static bool ReferenceCorrect(const Problem& p, int64_t i,
                               const std::vector<double>& z) {
    return std::max_element(z.begin(), z.end()) - z.begin() == p.y[i];
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(SoftmaxRegression, LinearModelTest,
                               SoftmaxRegressionCase);
INSTANTIATE_TYPED_TEST_SUITE_P(SoftmaxRegression, LinearModelDeathTest,
                               SoftmaxRegressionCase);
INSTANTIATE_TYPED_TEST_SUITE_P(SoftmaxRegression, LinearClassifierDeathTest,
                               SoftmaxRegressionCase);
// SoftmaxRegression takes no l1 penalty.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LinearModelL1Test);

TEST(SoftmaxRegression, LargeLogitsStayFinite) {
  Problem p = SoftmaxRegressionCase::RandomProblem(4, 3, 6, 2);
  for (float& v : p.params) v *= 2000.0f;
  std::vector<float> grad;
  EXPECT_TRUE(std::isfinite(
      KernelLoss<SoftmaxRegressionCase>(p, 2, Penalty{0, 0}, &grad)));
  for (float g : grad) ASSERT_TRUE(std::isfinite(g));
}

}  // namespace
}  // namespace descent
