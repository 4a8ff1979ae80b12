// The interface a worker trains through: a model owns its parameter layout
// and its forward/backward kernels, never the parameters themselves. Callers
// pass a flat float vector of layout().size() elements, laid out as layout()
// says, and keep ownership of every pointer they pass.
//
// Implementations keep scratch buffers sized at construction, so a Model is
// not thread-safe: one thread at a time per instance (kernels may use their
// own threads internally). Give each concurrent user its own instance.
#ifndef DESCENT_COMMON_MODEL_MODEL_H_
#define DESCENT_COMMON_MODEL_MODEL_H_

#include <cstdint>

#include "common/model/param_layout.h"

namespace descent {

// Examples the caller owns. `features` is row-major, size x num_features.
// Classifiers read `labels` (size class indices); regression models read
// `targets` (size real values). The other may be null.
struct Batch {
  const float* features;
  const int32_t* labels;
  int size;
  const float* targets = nullptr;
};

struct EvalResult {
  // Sum, not mean, of the per-example losses.
  double loss_sum = 0;
  // Examples whose highest-scoring class (the first on a tie) is the label.
  int64_t correct = 0;
  int64_t count = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  virtual const ParamLayout& layout() const = 0;

  // Mean loss over the batch. Overwrites grad (layout().size() floats) with
  // d(mean loss)/d(params). 1 <= batch.size <= the max batch given at
  // construction, and every label must be a valid class; otherwise
  // CHECK-fails.
  virtual float LossAndGradient(const float* params, const Batch& batch,
                                float* grad) = 0;

  // One plain SGD step on the batch: params -= lr * d(mean loss)/d(params);
  // returns the loss before it (LossAndGradient's). `grad` is scratch of
  // layout().size() floats. This computes the gradient into it and applies
  // it; a model may instead fuse the update into its backward pass (the
  // same step up to float rounding). Same preconditions as LossAndGradient.
  virtual float LossAndSgdStep(float* params, const Batch& batch, float lr,
                               float* grad) {
    const float loss = LossAndGradient(params, batch, grad);
    const int64_t n = layout().size();
    for (int64_t i = 0; i < n; ++i) params[i] -= lr * grad[i];
    return loss;
  }

  // Sum of losses and count of correct predictions over all `examples`
  // (any size >= 0; processed in chunks of the max batch). A regression
  // model's loss is the squared error and `correct` stays 0. CHECK-fails on
  // an invalid label.
  virtual EvalResult Evaluate(const float* params, const Batch& examples) = 0;

  // True if the model predicts classes (reads labels), false if it
  // predicts real values (reads targets).
  virtual bool is_classifier() const { return true; }
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_MODEL_H_
