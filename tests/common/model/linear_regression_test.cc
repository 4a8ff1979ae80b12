#include "common/model/linear_regression.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

// A batch of random examples with everything the kernel and the reference
// need, owned here.
struct Problem {
  int64_t features;
  int batch;
  std::vector<float> x;        // batch x features, row-major
  std::vector<float> targets;  // batch
  std::vector<float> params;   // weights (features), then bias
  Batch AsBatch() const {
    return Batch{x.data(), nullptr, batch, targets.data()};
  }
};

struct Penalty {
  float l2;
  float l1;
};

const Penalty kPenalties[] = {{0, 0}, {0.3f, 0}, {0, 0.2f}, {0.3f, 0.2f}};

// Uniform in +-[0.05, 1]: far enough from 0 that a finite difference never
// crosses the kink of |w|.
float AwayFromZero(std::mt19937& rng) {
  const float magnitude = std::uniform_real_distribution<float>(0.05f, 1)(rng);
  return rng() % 2 ? magnitude : -magnitude;
}

Problem RandomProblem(int64_t features, int batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Problem p{features, batch, {}, {}, {}};
  p.x.resize(batch * features);
  for (float& v : p.x) v = uniform(rng);
  p.targets.resize(batch);
  for (float& v : p.targets) v = 2 * uniform(rng);
  p.params.resize(features + 1);
  for (float& v : p.params) v = AwayFromZero(rng);
  return p;
}

double ReferencePrediction(const Problem& p, const std::vector<double>& params,
                           int64_t i) {
  double z = params[p.features];
  for (int64_t f = 0; f < p.features; ++f) {
    z += p.x[i * p.features + f] * params[f];
  }
  return z;
}

double ReferenceSquaredErrorSum(const Problem& p,
                                const std::vector<double>& params) {
  double total = 0;
  for (int i = 0; i < p.batch; ++i) {
    const double error = ReferencePrediction(p, params, i) - p.targets[i];
    total += error * error;
  }
  return total;
}

double ReferenceMeanLoss(const Problem& p, const std::vector<double>& params,
                         Penalty penalty) {
  double loss = ReferenceSquaredErrorSum(p, params) / p.batch;
  for (int64_t f = 0; f < p.features; ++f) {
    loss += 0.5 * penalty.l2 * params[f] * params[f] +
            penalty.l1 * std::abs(params[f]);
  }
  return loss;
}

std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Central differences of the reference loss, one parameter at a time.
std::vector<double> NumericGradient(const Problem& p, Penalty penalty) {
  const double h = 1e-4;
  std::vector<double> params = ToDouble(p.params);
  std::vector<double> grad(params.size());
  for (size_t j = 0; j < params.size(); ++j) {
    const double saved = params[j];
    params[j] = saved + h;
    const double up = ReferenceMeanLoss(p, params, penalty);
    params[j] = saved - h;
    const double down = ReferenceMeanLoss(p, params, penalty);
    params[j] = saved;
    grad[j] = (up - down) / (2 * h);
  }
  return grad;
}

float KernelLoss(const Problem& p, int threads, Penalty penalty,
                 std::vector<float>* grad) {
  LinearRegression model(p.features, p.batch, threads, penalty.l2, penalty.l1);
  grad->assign(model.layout().size(), -1.0f);  // overwritten, not added to
  return model.LossAndGradient(p.params.data(), p.AsBatch(), grad->data());
}

struct Shape {
  int64_t features;
  int batch;
};

const Shape kShapes[] = {{1, 1}, {3, 5}, {7, 9}, {20, 33}, {64, 4}};

TEST(LinearRegression, LayoutIsZeroWeightsThenZeroBias) {
  LinearRegression model(6, 8, 2);
  const ParamLayout& layout = model.layout();
  ASSERT_EQ(layout.tensors().size(), 2u);
  EXPECT_EQ(layout.tensors()[0].name, "weights");
  EXPECT_EQ(layout.tensors()[0].shape, (std::vector<int64_t>{6}));
  EXPECT_EQ(layout.tensors()[1].name, "bias");
  EXPECT_EQ(layout.tensors()[1].shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(layout.size(), 7);
  for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(layout.InitialValue(1, i), 0);
  EXPECT_FALSE(model.is_classifier());
}

TEST(LinearRegression, LossAndGradientMatchTheReference) {
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    for (const Penalty& penalty : kPenalties) {
      SCOPED_TRACE(testing::Message()
                   << s.features << " features, batch " << s.batch << ", l2 "
                   << penalty.l2 << ", l1 " << penalty.l1);
      const Problem p = RandomProblem(s.features, s.batch, seed++);
      std::vector<float> grad;
      const double expected = ReferenceMeanLoss(p, ToDouble(p.params), penalty);
      EXPECT_NEAR(KernelLoss(p, 3, penalty, &grad), expected,
                  1e-5 * (1 + expected));
      const std::vector<double> numeric = NumericGradient(p, penalty);
      ASSERT_EQ(grad.size(), numeric.size());
      for (size_t j = 0; j < grad.size(); ++j) {
        ASSERT_NEAR(grad[j], numeric[j], 1e-5 + 1e-4 * std::abs(numeric[j]))
            << "parameter " << j;
      }
    }
  }
}

TEST(LinearRegression, L1SubgradientIsZeroAtZeroWeights) {
  Problem p = RandomProblem(5, 7, 3);
  p.params[1] = 0;
  p.params[3] = 0;
  std::vector<float> plain, with_l1;
  KernelLoss(p, 2, Penalty{0, 0}, &plain);
  KernelLoss(p, 2, Penalty{0, 0.5f}, &with_l1);
  for (int j : {1, 3, 5}) EXPECT_EQ(with_l1[j], plain[j]) << "parameter " << j;
  for (int j : {0, 2, 4}) {
    EXPECT_NEAR(with_l1[j] - plain[j], p.params[j] > 0 ? 0.5f : -0.5f, 1e-6);
  }
}

TEST(LinearRegression, ThreadCountDoesNotChangeResults) {
  // 31 examples split unevenly over 2 and 3 chunks.
  const Problem p = RandomProblem(17, 31, 7);
  for (const Penalty& penalty : kPenalties) {
    std::vector<float> reference;
    const float loss = KernelLoss(p, 1, penalty, &reference);
    for (int threads : {2, 3}) {
      SCOPED_TRACE(testing::Message() << "threads " << threads);
      std::vector<float> grad;
      EXPECT_NEAR(KernelLoss(p, threads, penalty, &grad), loss, 1e-5);
      EXPECT_THAT(grad,
                  testing::Pointwise(testing::FloatNear(1e-5), reference));
    }
  }
}

TEST(LinearRegression, EvaluateSumsUnpenalizedSquaredErrors) {
  // 250 examples in chunks of 32: the last chunk is partial.
  const Problem p = RandomProblem(8, 250, 33);
  LinearRegression model(8, /*max_batch=*/32, /*threads=*/3, 0.5f, 0.5f);
  const EvalResult result = model.Evaluate(p.params.data(), p.AsBatch());
  const double expected = ReferenceSquaredErrorSum(p, ToDouble(p.params));
  EXPECT_EQ(result.count, 250);
  EXPECT_EQ(result.correct, 0);
  EXPECT_NEAR(result.loss_sum, expected, 1e-5 * expected);
}

TEST(LinearRegression, EvaluateOfNothingIsEmpty) {
  LinearRegression model(3, 4, 2);
  std::vector<float> params(model.layout().size());
  const EvalResult result =
      model.Evaluate(params.data(), Batch{nullptr, nullptr, 0});
  EXPECT_EQ(result.count, 0);
  EXPECT_EQ(result.loss_sum, 0);
}

TEST(LinearRegression, NonPositiveThreadsMeansOnePerProcessorUpToMaxBatch) {
  EXPECT_EQ(LinearRegression(2, 1000, 0).threads(),
            std::min(omp_get_num_procs(), 1000));
  EXPECT_EQ(LinearRegression(2, 3, 16).threads(), 3);
}

TEST(LinearRegression, SgdRecoversPlantedWeights) {
  const int64_t features = 10;
  const int n = 2000, batch = 20;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> planted(features + 1);
  for (float& v : planted) v = normal(rng);
  Problem data{features, n, std::vector<float>(n * features),
               std::vector<float>(n), planted};
  for (float& v : data.x) v = normal(rng);
  for (int i = 0; i < n; ++i) {
    data.targets[i] = static_cast<float>(
        ReferencePrediction(data, ToDouble(planted), i) + 0.01 * normal(rng));
  }
  LinearRegression model(features, batch, 2);
  std::vector<float> params(model.layout().size(), 0), grad(params.size());
  for (int epoch = 0; epoch < 5; ++epoch) {
    for (int start = 0; start < n; start += batch) {
      const Batch b{&data.x[start * features], nullptr, batch,
                    &data.targets[start]};
      model.LossAndGradient(params.data(), b, grad.data());
      for (size_t j = 0; j < params.size(); ++j) params[j] -= 0.05f * grad[j];
    }
  }
  double error = 0, norm = 0;
  for (int64_t f = 0; f < features; ++f) {
    error += (params[f] - planted[f]) * (params[f] - planted[f]);
    norm += planted[f] * planted[f];
  }
  EXPECT_LT(std::sqrt(error / norm), 0.02);
}

TEST(LinearRegressionDeathTest, RejectsBadBatches) {
  const Problem p = RandomProblem(3, 4, 8);
  LinearRegression model(3, 4, 1);
  std::vector<float> grad(model.layout().size());
  Batch batch = p.AsBatch();
  batch.size = 5;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), batch, grad.data()),
               "batch of 5");
  batch.size = 0;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), batch, grad.data()),
               "batch of 0");
  batch.size = 4;
  batch.targets = nullptr;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), batch, grad.data()),
               "without targets");
}

}  // namespace
}  // namespace descent
