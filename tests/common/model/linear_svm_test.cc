#include "common/model/linear_svm.h"

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
  int classes;
  int batch;
  std::vector<float> x;       // batch x features, row-major
  std::vector<int32_t> y;     // batch labels
  std::vector<float> params;  // weights (features x classes), then bias
  Batch AsBatch() const { return Batch{x.data(), y.data(), batch}; }
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
  for (float& v : p.params) v = AwayFromZero(rng);
  return p;
}

// Scores of example i, naively, in double.
std::vector<double> ReferenceScores(const Problem& p,
                                    const std::vector<double>& params,
                                    int64_t i) {
  std::vector<double> s(p.classes);
  for (int c = 0; c < p.classes; ++c) {
    s[c] = params[p.features * p.classes + c];
    for (int64_t f = 0; f < p.features; ++f) {
      s[c] += p.x[i * p.features + f] * params[f * p.classes + c];
    }
  }
  return s;
}

// y_c * s_c for every class, y_c = +1 for the label and -1 otherwise.
std::vector<double> Margins(const std::vector<double>& s, int label) {
  std::vector<double> m(s.size());
  for (size_t c = 0; c < s.size(); ++c) {
    m[c] = (static_cast<int>(c) == label ? 1 : -1) * s[c];
  }
  return m;
}

double ReferenceHinge(const std::vector<double>& s, int label) {
  double loss = 0;
  for (double m : Margins(s, label)) loss += std::max(0.0, 1 - m);
  return loss;
}

double ReferenceMeanLoss(const Problem& p, const std::vector<double>& params,
                         Penalty penalty) {
  double loss = 0;
  for (int i = 0; i < p.batch; ++i) {
    loss += ReferenceHinge(ReferenceScores(p, params, i), p.y[i]);
  }
  loss /= p.batch;
  for (int64_t j = 0; j < p.features * p.classes; ++j) {
    loss += 0.5 * penalty.l2 * params[j] * params[j] +
            penalty.l1 * std::abs(params[j]);
  }
  return loss;
}

std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// The first random problem of this shape, from `*seed` on, with every margin
// at least 1e-3 from the hinge's kink at 1, so central differences with a
// step of 1e-4 see a smooth function. Advances *seed past it.
Problem ProblemAwayFromKinks(int64_t features, int classes, int batch,
                             uint32_t* seed) {
  for (;;) {
    Problem p = RandomProblem(features, classes, batch, (*seed)++);
    bool smooth = true;
    for (int i = 0; i < batch; ++i) {
      for (double m :
           Margins(ReferenceScores(p, ToDouble(p.params), i), p.y[i])) {
        smooth = smooth && std::abs(m - 1) > 1e-3;
      }
    }
    if (smooth) return p;
  }
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
  LinearSvm model(p.features, p.classes, p.batch, threads, penalty.l2,
                  penalty.l1);
  grad->assign(model.layout().size(), -1.0f);  // overwritten, not added to
  return model.LossAndGradient(p.params.data(), p.AsBatch(), grad->data());
}

struct Shape {
  int64_t features;
  int classes;
  int batch;
};

const Shape kShapes[] = {{1, 2, 1},    {3, 2, 5},  {7, 4, 9},
                         {20, 10, 33}, {5, 3, 64}, {64, 1, 4}};

TEST(LinearSvm, LayoutIsZeroWeightsThenZeroBias) {
  LinearSvm model(6, 4, 8, 2);
  const ParamLayout& layout = model.layout();
  ASSERT_EQ(layout.tensors().size(), 2u);
  EXPECT_EQ(layout.tensors()[0].name, "weights");
  EXPECT_EQ(layout.tensors()[0].shape, (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(layout.tensors()[1].name, "bias");
  EXPECT_EQ(layout.tensors()[1].shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(layout.offset(1), 24);
  EXPECT_EQ(layout.size(), 28);
  for (int64_t i = 0; i < 28; ++i) EXPECT_EQ(layout.InitialValue(1, i), 0);
  EXPECT_TRUE(model.is_classifier());
}

TEST(LinearSvm, LossAndGradientMatchTheReference) {
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    for (const Penalty& penalty : kPenalties) {
      SCOPED_TRACE(testing::Message()
                   << s.features << "x" << s.classes << " batch " << s.batch
                   << ", l2 " << penalty.l2 << ", l1 " << penalty.l1);
      const Problem p =
          ProblemAwayFromKinks(s.features, s.classes, s.batch, &seed);
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

TEST(LinearSvm, SubgradientIsZeroAtMarginOneAndAtZeroWeights) {
  // W = 0 and b = (-1, 1, -1): every margin of a label-1 example is exactly
  // 1, so the loss is 0 and the hinge's subgradient taken is 0; l1 adds
  // nothing at W = 0.
  Problem p = RandomProblem(4, 3, 5, 11);
  std::fill(p.params.begin(), p.params.end(), 0.0f);
  p.params[12] = -1;
  p.params[13] = 1;
  p.params[14] = -1;
  std::fill(p.y.begin(), p.y.end(), 1);
  std::vector<float> grad;
  EXPECT_EQ(KernelLoss(p, 2, Penalty{0.3f, 0.5f}, &grad), 0);
  EXPECT_THAT(grad, testing::Each(0.0f));
}

TEST(LinearSvm, ThreadCountDoesNotChangeResults) {
  // 31 examples split unevenly over 2 and 3 chunks.
  const Problem p = RandomProblem(17, 5, 31, 7);
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

TEST(LinearSvm, EvaluateMatchesNaiveArgmaxAndLoss) {
  // 250 examples in chunks of 32: the last chunk is partial.
  const Problem p = RandomProblem(8, 6, 250, 33);
  LinearSvm model(8, 6, /*max_batch=*/32, /*threads=*/3, 0.5f, 0.5f);
  const EvalResult result = model.Evaluate(p.params.data(), p.AsBatch());
  const std::vector<double> params = ToDouble(p.params);
  int64_t correct = 0;
  double loss_sum = 0;
  for (int i = 0; i < 250; ++i) {
    const std::vector<double> s = ReferenceScores(p, params, i);
    correct += std::max_element(s.begin(), s.end()) - s.begin() == p.y[i];
    loss_sum += ReferenceHinge(s, p.y[i]);
  }
  EXPECT_EQ(result.count, 250);
  EXPECT_EQ(result.correct, correct);
  EXPECT_GT(correct, 0);
  EXPECT_NEAR(result.loss_sum, loss_sum, 1e-5 * loss_sum);
}

TEST(LinearSvm, EvaluateBreaksTiesTowardTheFirstClass) {
  // W = 0, b = (0.5, 0.5, 0.1): every example scores classes 0 and 1 alike.
  Problem p = RandomProblem(3, 3, 6, 5);
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
  Problem data{features, classes, n, {}, {}, {}};
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
  std::vector<float> params(model.layout().size(), 0), grad(params.size());
  // Trains on the first 1200 examples, tests on the last 300.
  for (int epoch = 0; epoch < 5; ++epoch) {
    for (int start = 0; start < 1200; start += batch) {
      const Batch b{&data.x[start * features], &data.y[start], batch};
      model.LossAndGradient(params.data(), b, grad.data());
      for (size_t j = 0; j < params.size(); ++j) params[j] -= 0.1f * grad[j];
    }
  }
  const EvalResult held_out = model.Evaluate(
      params.data(), Batch{&data.x[1200 * features], &data.y[1200], 300});
  EXPECT_GT(held_out.correct, 0.9 * 300);
}

TEST(LinearSvmDeathTest, RejectsBadBatchesAndLabels) {
  Problem p = RandomProblem(3, 2, 4, 8);
  LinearSvm model(3, 2, 4, 1);
  std::vector<float> grad(model.layout().size());
  Batch batch = p.AsBatch();
  batch.size = 5;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), batch, grad.data()),
               "batch of 5");
  batch.size = 0;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), batch, grad.data()),
               "batch of 0");
  p.y[2] = 2;
  EXPECT_DEATH(model.LossAndGradient(p.params.data(), p.AsBatch(), grad.data()),
               "label 2 of example 2");
  p.y[2] = -1;
  EXPECT_DEATH(model.Evaluate(p.params.data(), p.AsBatch()),
               "label -1 of example 2");
}

}  // namespace
}  // namespace descent
