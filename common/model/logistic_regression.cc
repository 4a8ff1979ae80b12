#include "common/model/logistic_regression.h"

#include <algorithm>
#include <cmath>

#include "glog/logging.h"

namespace descent {
namespace {

ParamLayout LogisticLayout(int64_t features) {
  ParamLayout layout;
  layout.Add(TensorSpec{"weights", {features}, InitRule::kZeros, 0, 0});
  layout.Add(TensorSpec{"bias", {1}, InitRule::kZeros, 0, 0});
  return layout;
}

// 1 / (1 + exp(-z)), with exp() of a non-positive argument only.
double Sigmoid(double z) {
  if (z >= 0) return 1 / (1 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1 + e);
}

// Cross-entropy of example `i` with logit *logit; leaves its derivative,
// sigmoid(z) - label, in *logit.
double CrossEntropy(const int32_t* labels, int64_t i, float* logit,
                    bool* correct) {
  const int32_t label = labels[i];
  CHECK(label == 0 || label == 1) << "label " << label << " of example " << i;
  const double z = *logit;
  *correct = (z > 0) == (label == 1);
  *logit = static_cast<float>(Sigmoid(z) - label);
  return std::max(z, 0.0) - z * label + std::log1p(std::exp(-std::abs(z)));
}

}  // namespace

LogisticRegression::LogisticRegression(int64_t num_features, int max_batch,
                                       int threads, float l2, float l1)
    : layout_(LogisticLayout(num_features)),
      kernels_(num_features, 1, max_batch, threads, l2, l1) {}

float LogisticRegression::LossAndGradient(const float* params,
                                          const Batch& batch, float* grad) {
  const int32_t* labels = batch.labels;
  return kernels_.LossAndGradient(
      params, batch.features, batch.size,
      [labels](int64_t i, float* logit, bool* correct) {
        return CrossEntropy(labels, i, logit, correct);
      },
      grad);
}

EvalResult LogisticRegression::Evaluate(const float* params,
                                        const Batch& examples) {
  const int32_t* labels = examples.labels;
  return kernels_.Evaluate(params, examples.features, examples.size,
                           [labels](int64_t i, float* logit, bool* correct) {
                             return CrossEntropy(labels, i, logit, correct);
                           });
}

}  // namespace descent
