#include "common/model/softmax_regression.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace descent {
namespace {

// A batch of random examples with everything the kernel and the reference
// need, owned here.
struct Problem {
  int64_t features;
  int classes;
  int batch;
  std::vector<float> x;       // batch x features, row-major
  std::vector<int32_t> y;     // batch labels
  std::vector<float> params;  // weights (features x classes), then bias
};

Problem RandomProblem(int64_t features, int classes, int batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_int_distribution<int32_t> label(0, classes - 1);
  Problem p{features, classes, batch, {}, {}, {}};
  p.x.resize(batch * features);
  for (float& v : p.x) v = uniform(rng);
  p.y.resize(batch);
  for (int32_t& v : p.y) v = label(rng);
  p.params.resize(features * classes + classes);
  for (float& v : p.params) v = uniform(rng);
  return p;
}

// Logits of example i, naively, in double.
std::vector<double> ReferenceLogits(const Problem& p,
                                    const std::vector<double>& params,
                                    int64_t i) {
  std::vector<double> z(p.classes);
  for (int c = 0; c < p.classes; ++c) {
    z[c] = params[p.features * p.classes + c];
    for (int64_t f = 0; f < p.features; ++f) {
      z[c] += p.x[i * p.features + f] * params[f * p.classes + c];
    }
  }
  return z;
}

// -log softmax(z)[label], in double.
double ReferenceCrossEntropy(const std::vector<double>& z, int label) {
  const double max = *std::max_element(z.begin(), z.end());
  double sum = 0;
  for (double v : z) sum += std::exp(v - max);
  return std::log(sum) + max - z[label];
}

double ReferenceMeanLoss(const Problem& p, const std::vector<double>& params) {
  double total = 0;
  for (int i = 0; i < p.batch; ++i) {
    total += ReferenceCrossEntropy(ReferenceLogits(p, params, i), p.y[i]);
  }
  return total / p.batch;
}

std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Central differences of the reference loss, one parameter at a time.
std::vector<double> NumericGradient(const Problem& p) {
  const double h = 1e-4;
  std::vector<double> params = ToDouble(p.params);
  std::vector<double> grad(params.size());
  for (size_t j = 0; j < params.size(); ++j) {
    const double saved = params[j];
    params[j] = saved + h;
    const double up = ReferenceMeanLoss(p, params);
    params[j] = saved - h;
    const double down = ReferenceMeanLoss(p, params);
    params[j] = saved;
    grad[j] = (up - down) / (2 * h);
  }
  return grad;
}

float KernelLoss(const Problem& p, int threads, std::vector<float>* grad) {
  SoftmaxRegression model(p.features, p.classes, p.batch, threads);
  grad->assign(model.layout().size(), -1.0f);  // overwritten, not added to
  return model.LossAndGradient(
      p.params.data(), Batch{p.x.data(), p.y.data(), p.batch}, grad->data());
}

struct Shape {
  int64_t features;
  int classes;
  int batch;
};

const Shape kShapes[] = {{1, 2, 1},    {3, 2, 5},  {7, 4, 9},
                         {20, 10, 33}, {5, 3, 64}, {64, 1, 4}};

TEST(SoftmaxRegression, LayoutIsWeightsThenZeroBias) {
  SoftmaxRegression model(6, 4, 8, 2);
  const ParamLayout& layout = model.layout();
  ASSERT_EQ(layout.tensors().size(), 2u);
  EXPECT_EQ(layout.tensors()[0].name, "weights");
  EXPECT_EQ(layout.tensors()[0].shape, (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(layout.tensors()[1].name, "bias");
  EXPECT_EQ(layout.offset(1), 24);
  EXPECT_EQ(layout.size(), 28);
  for (int64_t i = 24; i < 28; ++i) EXPECT_EQ(layout.InitialValue(1, i), 0);
  EXPECT_NE(layout.InitialValue(1, 0), 0);
}

TEST(SoftmaxRegression, LossMatchesTheReference) {
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message()
                 << s.features << "x" << s.classes << " batch " << s.batch);
    const Problem p = RandomProblem(s.features, s.classes, s.batch, seed++);
    std::vector<float> grad;
    const double expected = ReferenceMeanLoss(p, ToDouble(p.params));
    EXPECT_NEAR(KernelLoss(p, 2, &grad), expected, 1e-5 * (1 + expected));
  }
}

TEST(SoftmaxRegression, GradientMatchesFiniteDifferences) {
  uint32_t seed = 100;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message()
                 << s.features << "x" << s.classes << " batch " << s.batch);
    const Problem p = RandomProblem(s.features, s.classes, s.batch, seed++);
    std::vector<float> grad;
    KernelLoss(p, 3, &grad);
    const std::vector<double> numeric = NumericGradient(p);
    ASSERT_EQ(grad.size(), numeric.size());
    for (size_t j = 0; j < grad.size(); ++j) {
      ASSERT_NEAR(grad[j], numeric[j], 1e-5 + 1e-4 * std::abs(numeric[j]))
          << "parameter " << j;
    }
  }
}

TEST(SoftmaxRegression, ThreadCountDoesNotChangeResults) {
  // 31 examples split unevenly over 2 and 3 chunks; 8 threads for a max
  // batch of 5 are capped at 5 chunks.
  for (const Shape& s : {Shape{17, 5, 31}, Shape{4, 3, 5}}) {
    const Problem p = RandomProblem(s.features, s.classes, s.batch, 7);
    std::vector<float> reference;
    const float loss = KernelLoss(p, 1, &reference);
    for (int threads : {2, 3, 8}) {
      SCOPED_TRACE(testing::Message() << "threads " << threads);
      std::vector<float> grad;
      EXPECT_NEAR(KernelLoss(p, threads, &grad), loss, 1e-5);
      for (size_t j = 0; j < grad.size(); ++j) {
        ASSERT_NEAR(grad[j], reference[j], 1e-5) << "parameter " << j;
      }
    }
  }
}

TEST(SoftmaxRegression, BatchSmallerThanMaxLeavesChunksEmpty) {
  const Problem p = RandomProblem(9, 4, 2, 21);
  SoftmaxRegression model(9, 4, /*max_batch=*/12, /*threads=*/4);
  std::vector<float> grad(model.layout().size());
  const float loss = model.LossAndGradient(
      p.params.data(), Batch{p.x.data(), p.y.data(), 2}, grad.data());
  std::vector<float> expected;
  EXPECT_NEAR(loss, KernelLoss(p, 1, &expected), 1e-5);
  for (size_t j = 0; j < grad.size(); ++j) {
    EXPECT_NEAR(grad[j], expected[j], 1e-6);
  }
}

TEST(SoftmaxRegression, BatchOfOneWorks) {
  const Problem p = RandomProblem(6, 3, 1, 5);
  std::vector<float> grad;
  const double expected = ReferenceMeanLoss(p, ToDouble(p.params));
  EXPECT_NEAR(KernelLoss(p, 4, &grad), expected, 1e-5 * (1 + expected));
  const std::vector<double> numeric = NumericGradient(p);
  for (size_t j = 0; j < grad.size(); ++j) {
    EXPECT_NEAR(grad[j], numeric[j], 1e-5 + 1e-4 * std::abs(numeric[j]));
  }
}

TEST(SoftmaxRegression, RepeatedCallsGiveTheSameAnswer) {
  const Problem p = RandomProblem(12, 5, 20, 9);
  SoftmaxRegression model(12, 5, 20, 3);
  const Batch batch{p.x.data(), p.y.data(), 20};
  std::vector<float> first(model.layout().size()), second(first.size());
  const float loss =
      model.LossAndGradient(p.params.data(), batch, first.data());
  EXPECT_EQ(model.LossAndGradient(p.params.data(), batch, second.data()), loss);
  EXPECT_EQ(first, second);
}

TEST(SoftmaxRegression, EvaluateMatchesNaiveArgmaxAndLoss) {
  // 250 examples in chunks of 32: the last chunk is partial.
  const Problem p = RandomProblem(8, 6, 250, 33);
  SoftmaxRegression model(8, 6, /*max_batch=*/32, /*threads=*/3);
  const EvalResult result =
      model.Evaluate(p.params.data(), Batch{p.x.data(), p.y.data(), 250});
  const std::vector<double> params = ToDouble(p.params);
  int64_t correct = 0;
  double loss_sum = 0;
  for (int i = 0; i < 250; ++i) {
    const std::vector<double> z = ReferenceLogits(p, params, i);
    correct += std::max_element(z.begin(), z.end()) - z.begin() == p.y[i];
    loss_sum += ReferenceCrossEntropy(z, p.y[i]);
  }
  EXPECT_EQ(result.count, 250);
  EXPECT_EQ(result.correct, correct);
  EXPECT_GT(correct, 0);
  EXPECT_NEAR(result.loss_sum, loss_sum, 1e-5 * loss_sum);
}

TEST(SoftmaxRegression, EvaluateOfNothingIsEmpty) {
  SoftmaxRegression model(3, 2, 4, 2);
  std::vector<float> params(model.layout().size());
  const EvalResult result =
      model.Evaluate(params.data(), Batch{nullptr, nullptr, 0});
  EXPECT_EQ(result.count, 0);
  EXPECT_EQ(result.correct, 0);
  EXPECT_EQ(result.loss_sum, 0);
}

TEST(SoftmaxRegression, LargeLogitsStayFinite) {
  Problem p = RandomProblem(4, 3, 6, 2);
  for (float& v : p.params) v *= 2000.0f;
  std::vector<float> grad;
  EXPECT_TRUE(std::isfinite(KernelLoss(p, 2, &grad)));
  for (float g : grad) ASSERT_TRUE(std::isfinite(g));
}

TEST(SoftmaxRegression, LeavesCallersOpenMpSettingAlone) {
  const int before = omp_get_max_threads();
  const Problem p = RandomProblem(5, 3, 10, 4);
  std::vector<float> grad;
  KernelLoss(p, 1, &grad);
  KernelLoss(p, 3, &grad);
  EXPECT_EQ(omp_get_max_threads(), before);
}

TEST(SoftmaxRegression, NonPositiveThreadsMeansOnePerProcessorUpToMaxBatch) {
  EXPECT_EQ(SoftmaxRegression(2, 2, 1000, 0).threads(),
            std::min(omp_get_num_procs(), 1000));
  EXPECT_EQ(SoftmaxRegression(2, 2, 3, 16).threads(), 3);
}

TEST(SoftmaxRegressionDeathTest, RejectsBadBatchesAndLabels) {
  Problem p = RandomProblem(3, 2, 4, 8);
  SoftmaxRegression model(3, 2, 4, 1);
  std::vector<float> grad(model.layout().size());
  EXPECT_DEATH(
      model.LossAndGradient(p.params.data(), Batch{p.x.data(), p.y.data(), 5},
                            grad.data()),
      "batch of 5");
  p.y[2] = 2;
  EXPECT_DEATH(
      model.LossAndGradient(p.params.data(), Batch{p.x.data(), p.y.data(), 4},
                            grad.data()),
      "label 2 of example 2");
}

}  // namespace
}  // namespace descent
