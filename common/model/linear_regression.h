// Least-squares linear regression: prediction x . w + b, loss per example
// (prediction - target)^2. LossAndGradient returns the mean of it over the
// batch plus (l2 / 2) ||w||^2 + l1 ||w||_1 on the weights only (the l1
// subgradient is l1 sign(w), 0 at w = 0); Evaluate sums the squared errors
// alone, unpenalized, and leaves `correct` at 0. Reads batch.targets, never
// batch.labels.
//
// Layout: tensor "weights" {num_features}, zeros; then "bias" {1}, zeros.
//
// Batches are split over threads() OpenMP threads as LinearKernels describes:
// results depend on threads() but not on how many threads OpenMP grants, and
// nothing is allocated per call. Not thread-safe: one caller at a time per
// instance.
#ifndef DESCENT_COMMON_MODEL_LINEAR_REGRESSION_H_
#define DESCENT_COMMON_MODEL_LINEAR_REGRESSION_H_

#include <cstdint>

#include "common/model/linear_kernels.h"
#include "common/model/model.h"
#include "common/model/param_layout.h"

namespace descent {

class LinearRegression : public Model {
 public:
  // Batches of up to `max_batch` examples on `threads` threads (<= 0: one
  // per processor; never more than max_batch). CHECK-fails unless
  // num_features >= 1, max_batch >= 1, l2 >= 0 and l1 >= 0.
  LinearRegression(int64_t num_features, int max_batch, int threads,
                   float l2 = 0, float l1 = 0);

  const ParamLayout& layout() const override { return layout_; }
  // Also CHECK-fails if batch.targets is null.
  float LossAndGradient(const float* params, const Batch& batch,
                        float* grad) override;
  // Also CHECK-fails if examples.targets is null and examples.size > 0.
  EvalResult Evaluate(const float* params, const Batch& examples) override;
  bool is_classifier() const override { return false; }

  // The number of chunks (and at most of OpenMP threads) per batch.
  int threads() const { return kernels_.threads(); }

 private:
  const ParamLayout layout_;  // constant after construction
  LinearKernels kernels_;
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_LINEAR_REGRESSION_H_
