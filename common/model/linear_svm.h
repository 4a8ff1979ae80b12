// Multiclass linear SVM, one-vs-rest: scores s = x W + b, one per class, and
// loss per example
//   sum over classes c of max(0, 1 - y_c * s_c),
// y_c = +1 for the labelled class and -1 for every other, so each class is
// its own binary hinge (with two classes that is still two outputs). At a
// margin of exactly 1 the subgradient taken is 0. LossAndGradient returns the
// mean loss over the batch plus (l2 / 2) ||W||^2 + l1 ||W||_1 on the weights
// only (the l1 subgradient is l1 sign(W), 0 at W = 0); Evaluate sums the
// hinge losses alone, unpenalized, and counts an example correct when its
// highest score (the first on a tie) is the label's.
//
// Layout: tensor "weights" {num_features, num_classes}, row-major (element
// (f, c) at f * num_classes + c), zeros (the loss is convex); then "bias"
// {num_classes}, zeros.
//
// Batches are split over threads() OpenMP threads as LinearKernels describes:
// results depend on threads() but not on how many threads OpenMP grants, and
// nothing is allocated per call. Not thread-safe: one caller at a time per
// instance.
#ifndef DESCENT_COMMON_MODEL_LINEAR_SVM_H_
#define DESCENT_COMMON_MODEL_LINEAR_SVM_H_

#include <cstdint>

#include "common/model/linear_kernels.h"
#include "common/model/model.h"
#include "common/model/param_layout.h"

namespace descent {

class LinearSvm : public Model {
 public:
  // Batches of up to `max_batch` examples on `threads` threads (<= 0: one
  // per processor; never more than max_batch). CHECK-fails unless
  // num_features >= 1, num_classes >= 1, max_batch >= 1, l2 >= 0 and l1 >= 0.
  LinearSvm(int64_t num_features, int num_classes, int max_batch, int threads,
            float l2 = 0, float l1 = 0);

  const ParamLayout& layout() const override { return layout_; }
  float LossAndGradient(const float* params, const Batch& batch,
                        float* grad) override;
  EvalResult Evaluate(const float* params, const Batch& examples) override;

  // The number of chunks (and at most of OpenMP threads) per batch.
  int threads() const { return kernels_.threads(); }

 private:
  // Hinge loss of example `i` with scores `scores`; see LinearKernels'
  // ExampleLoss.
  double Hinge(const int32_t* labels, int64_t i, float* scores,
               bool* correct) const;

  // Constant after construction.
  const int num_classes_;
  const ParamLayout layout_;

  LinearKernels kernels_;
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_LINEAR_SVM_H_
