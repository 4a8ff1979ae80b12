// Random problems for the dense linear models (LinearRegression,
// LogisticRegression, LinearSvm, SoftmaxRegression) and the naive
// double-precision reference their kernels are checked against: scores,
// losses, central differences. The shared suites (linear_model_test_suite.h)
// and each model's own tests use them.
//
// A model is described to them by a Case, a struct that derives from
// LinearModelCase, hides the defaults that do not fit its model, and
// provides:
//   using Model = ...;
//   static Model Make(int64_t features, int classes, int max_batch,
//                     int threads, Penalty penalty);
//   // Random examples and parameters, outputs = Outputs(classes).
//   static Problem RandomProblem(int64_t features, int classes, int batch,
//                                uint32_t seed);
//   // One example's loss and whether it is predicted right, from `scores`,
//   // its reference scores (ReferenceScores).
//   static double ReferenceLoss(const Problem& p, int64_t i,
//                               const std::vector<double>& scores);
//   static bool ReferenceCorrect(const Problem& p, int64_t i,
//                                const std::vector<double>& scores);
#ifndef DESCENT_TESTS_COMMON_MODEL_LINEAR_MODEL_REFERENCE_H_
#define DESCENT_TESTS_COMMON_MODEL_LINEAR_MODEL_REFERENCE_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "common/model/model.h"
#include "gtest/gtest.h"

namespace descent {

// A batch of random examples with everything the kernel and the reference
// need, owned here. A model with `outputs` scores per example has weights
// {features, outputs} row-major, then a bias {outputs}.
struct Problem {
  int64_t features;
  int outputs;  // 1 for regression and binary models, else the classes
  int batch;
  std::vector<float> x;        // batch x features, row-major
  std::vector<int32_t> y;      // batch labels; empty for regression
  std::vector<float> targets;  // batch targets; empty for classifiers
  std::vector<float> params;   // weights, then bias

  int64_t num_weights() const { return features * outputs; }
  // Examples [start, start + size).
  Batch Rows(int64_t start, int size) const {
    return Batch{x.data() + start * features,
                 y.empty() ? nullptr : y.data() + start, size,
                 targets.empty() ? nullptr : targets.data() + start};
  }
  Batch AsBatch() const { return Rows(0, batch); }
};

// (l2 / 2) ||W||^2 + l1 ||W||_1, on the weights only, never the bias.
struct Penalty {
  float l2;
  float l1;
};

// The defaults a Case may hide with its own.
struct LinearModelCase {
  // Scores per example for data of `classes` classes: 1 for a regression or
  // binary model.
  static int Outputs(int classes) { return classes; }
  // Whether the model reads labels (else targets).
  static constexpr bool kIsClassifier = true;
  // Whether the model takes an l1 penalty, beside l2.
  static constexpr bool kHasL1 = true;
  // Whether the weights, not only the bias, start at zero.
  static constexpr bool kZeroInitialWeights = true;
  // Whether central differences of step 1e-4 around `p` see a smooth loss.
  static bool IsSmooth(const Problem&) { return true; }
};

// Uniform in +-[0.05, 1]: far enough from 0 that a finite difference never
// crosses the kink of |w|.
inline float AwayFromZero(std::mt19937& rng) {
  const float magnitude = std::uniform_real_distribution<float>(0.05f, 1)(rng);
  return rng() % 2 ? magnitude : -magnitude;
}

// What DrawProblem draws for each example.
enum class ExampleDraw {
  kTargets,       // a target uniform in [-2, 2]
  kBinaryLabels,  // a label rng() % 2
  kClassLabels,   // a label uniform in [0, outputs)
};

// What DrawProblem draws for each parameter.
enum class ParamDraw {
  kAwayFromZero,  // AwayFromZero
  kUniform,       // uniform in [-1, 1]
};

// A random Problem, drawn in this order from one mt19937 seeded with `seed`:
// the features, uniform in [-1, 1]; then each example's target or label, as
// `examples` says; then each parameter, as `params` says.
inline Problem DrawProblem(int64_t features, int outputs, int batch,
                           uint32_t seed, ExampleDraw examples,
                           ParamDraw params) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Problem p{features, outputs, batch, {}, {}, {}, {}};
  p.x.resize(batch * features);
  for (float& v : p.x) v = uniform(rng);
  if (examples == ExampleDraw::kTargets) {
    p.targets.resize(batch);
    for (float& v : p.targets) v = 2 * uniform(rng);
  } else {
    std::uniform_int_distribution<int32_t> label(0, outputs - 1);
    p.y.resize(batch);
    for (int32_t& v : p.y) {
      v = examples == ExampleDraw::kBinaryLabels ? rng() % 2 : label(rng);
    }
  }
  p.params.resize(p.num_weights() + outputs);
  for (float& v : p.params) {
    v = params == ParamDraw::kAwayFromZero ? AwayFromZero(rng) : uniform(rng);
  }
  return p;
}

inline std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// The `outputs` scores x W + b of example i, naively, in double.
inline std::vector<double> ReferenceScores(const Problem& p,
                                           const std::vector<double>& params,
                                           int64_t i) {
  std::vector<double> s(p.outputs);
  for (int c = 0; c < p.outputs; ++c) {
    s[c] = params[p.num_weights() + c];
    for (int64_t f = 0; f < p.features; ++f) {
      s[c] += p.x[i * p.features + f] * params[f * p.outputs + c];
    }
  }
  return s;
}

// The reference's mean loss over p's batch plus the penalty on the weights.
template <typename Case>
double ReferenceMeanLoss(const Problem& p, const std::vector<double>& params,
                         Penalty penalty) {
  double loss = 0;
  for (int i = 0; i < p.batch; ++i) {
    loss += Case::ReferenceLoss(p, i, ReferenceScores(p, params, i));
  }
  loss /= p.batch;
  for (int64_t j = 0; j < p.num_weights(); ++j) {
    loss += 0.5 * penalty.l2 * params[j] * params[j] +
            penalty.l1 * std::abs(params[j]);
  }
  return loss;
}

// Central differences of the reference loss, one parameter at a time.
template <typename Case>
std::vector<double> NumericGradient(const Problem& p, Penalty penalty) {
  const double h = 1e-4;
  std::vector<double> params = ToDouble(p.params);
  std::vector<double> grad(params.size());
  for (size_t j = 0; j < params.size(); ++j) {
    const double saved = params[j];
    params[j] = saved + h;
    const double up = ReferenceMeanLoss<Case>(p, params, penalty);
    params[j] = saved - h;
    const double down = ReferenceMeanLoss<Case>(p, params, penalty);
    params[j] = saved;
    grad[j] = (up - down) / (2 * h);
  }
  return grad;
}

// The kernel's loss on p's whole batch (its max batch), with its gradient in
// *grad.
template <typename Case>
float KernelLoss(const Problem& p, int threads, Penalty penalty,
                 std::vector<float>* grad) {
  auto model = Case::Make(p.features, p.outputs, p.batch, threads, penalty);
  grad->assign(model.layout().size(), -1.0f);  // overwritten, not added to
  return model.LossAndGradient(p.params.data(), p.AsBatch(), grad->data());
}

// The penalties a Case's model takes.
template <typename Case>
std::vector<Penalty> Penalties() {
  std::vector<Penalty> penalties = {{0, 0}, {0.3f, 0}};
  if (Case::kHasL1) {
    penalties.insert(penalties.end(), {{0, 0.2f}, {0.3f, 0.2f}});
  }
  return penalties;
}

// `epochs` epochs of plain SGD with `learning_rate` from zeros, over
// data's examples [0, n) in order, `batch` at a time (batch divides n).
// Returns the parameters.
template <typename Model>
std::vector<float> TrainBySgd(Model& model, const Problem& data, int n,
                              int batch, float learning_rate, int epochs) {
  std::vector<float> params(model.layout().size(), 0), grad(params.size());
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (int start = 0; start < n; start += batch) {
      model.LossAndGradient(params.data(), data.Rows(start, batch),
                            grad.data());
      for (size_t j = 0; j < params.size(); ++j) {
        params[j] -= learning_rate * grad[j];
      }
    }
  }
  return params;
}

// Expects grad within 1e-5 + 1e-4 |numeric| of the central differences.
template <typename Case>
void ExpectGradientMatchesFiniteDifferences(const Problem& p, Penalty penalty,
                                            const std::vector<float>& grad) {
  const std::vector<double> numeric = NumericGradient<Case>(p, penalty);
  ASSERT_EQ(grad.size(), numeric.size());
  for (size_t j = 0; j < grad.size(); ++j) {
    ASSERT_NEAR(grad[j], numeric[j], 1e-5 + 1e-4 * std::abs(numeric[j]))
        << "parameter " << j;
  }
}

}  // namespace descent

#endif  // DESCENT_TESTS_COMMON_MODEL_LINEAR_MODEL_REFERENCE_H_
