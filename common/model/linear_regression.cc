#include "common/model/linear_regression.h"

#include "glog/logging.h"

namespace descent {
namespace {

ParamLayout RegressionLayout(int64_t features) {
  ParamLayout layout;
  layout.Add(TensorSpec{"weights", {features}, InitRule::kZeros, 0, 0});
  layout.Add(TensorSpec{"bias", {1}, InitRule::kZeros, 0, 0});
  return layout;
}

// (prediction - target)^2; leaves its derivative in *prediction.
double SquaredError(float target, float* prediction, bool* correct) {
  const double error = static_cast<double>(*prediction) - target;
  *prediction = static_cast<float>(2 * error);
  *correct = false;
  return error * error;
}

}  // namespace

LinearRegression::LinearRegression(int64_t num_features, int max_batch,
                                   int threads, float l2, float l1)
    : layout_(RegressionLayout(num_features)),
      kernels_(num_features, 1, max_batch, threads, l2, l1) {}

float LinearRegression::LossAndGradient(const float* params, const Batch& batch,
                                        float* grad) {
  CHECK(batch.targets != nullptr) << "regression batch without targets";
  const float* targets = batch.targets;
  return kernels_.LossAndGradient(
      params, batch.features, batch.size,
      [targets](int64_t i, float* score, bool* correct) {
        return SquaredError(targets[i], score, correct);
      },
      grad);
}

EvalResult LinearRegression::Evaluate(const float* params,
                                      const Batch& examples) {
  CHECK(examples.size == 0 || examples.targets != nullptr)
      << "regression examples without targets";
  const float* targets = examples.targets;
  return kernels_.Evaluate(params, examples.features, examples.size,
                           [targets](int64_t i, float* score, bool* correct) {
                             return SquaredError(targets[i], score, correct);
                           });
}

}  // namespace descent
