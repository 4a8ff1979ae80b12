// The forward/backward scaffolding shared by the dense linear models
// (LinearRegression, LogisticRegression, LinearSvm): scores = x W + b for
// `num_outputs` outputs, a per-example loss on each row of scores supplied by
// the model, the mean of it plus an elastic-net penalty on W, and its
// gradient.
//
// Parameters are W {num_features, num_outputs} row-major, then b
// {num_outputs}: num_features * num_outputs + num_outputs floats. The penalty
// (l2 / 2) ||W||^2 + l1 ||W||_1 covers W only, never b; its subgradient is
// l2 W + l1 sign(W), with sign(0) = 0.
//
// Batches are split into threads() chunks, each with its own score and
// gradient buffers, and the chunks' results are added in chunk order, as
// batch_chunks.h describes: results depend on threads() but not on how many
// OpenMP threads actually run. All buffers are sized at construction: no
// allocation of its own per call (Eigen's GEMM packs on the stack, or on the
// heap past EIGEN_STACK_ALLOCATION_LIMIT). Not thread-safe: one caller at a
// time per instance.
#ifndef DESCENT_COMMON_MODEL_LINEAR_KERNELS_H_
#define DESCENT_COMMON_MODEL_LINEAR_KERNELS_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "common/model/aligned_floats.h"
#include "common/model/model.h"
#include "common/partition.h"

namespace descent {

// One example's loss from its scores. `example` indexes the batch passed to
// LossAndGradient or Evaluate; `scores` holds its num_outputs scores. Returns
// the example's loss, sets *correct to whether it is predicted right, and
// overwrites scores with d(loss)/d(scores). Called concurrently from the
// kernel's threads, each call on its own row: it must not write shared state.
using ExampleLoss =
    absl::FunctionRef<double(int64_t example, float* scores, bool* correct)>;

class LinearKernels {
 public:
  // Batches of up to `max_batch` examples on `threads` threads (<= 0: one
  // per processor; never more than max_batch). CHECK-fails unless
  // num_features >= 1, num_outputs >= 1, max_batch >= 1, l2 >= 0, l1 >= 0.
  LinearKernels(int64_t num_features, int num_outputs, int max_batch,
                int threads, float l2, float l1);

  // Mean of `loss` over the `batch_size` examples of `features` (row-major,
  // batch_size x num_features) plus the penalty. Overwrites grad
  // (num_params() floats) with its gradient. CHECK-fails unless
  // 1 <= batch_size <= max_batch.
  float LossAndGradient(const float* params, const float* features,
                        int batch_size, ExampleLoss loss, float* grad);

  // Sum of `loss` (no penalty) and count of correct examples over `n` >= 0
  // examples, max_batch at a time.
  EvalResult Evaluate(const float* params, const float* features, int64_t n,
                      ExampleLoss loss);

  int64_t num_params() const { return num_weights_ + num_outputs_; }
  int threads() const { return threads_; }

 private:
  // One chunk's scratch, written only by the thread that runs the chunk.
  struct Chunk {
    AlignedFloats scores;    // rows x num_outputs, row-major
    AlignedFloats gradient;  // num_params(): dW then db
    double loss_sum = 0;
    int64_t correct = 0;
  };

  // Scores `rows` of `features` into chunk->scores, then lets `loss` turn
  // each row into its gradient; sets loss_sum and correct. `first` is the
  // batch index of features' row 0, passed on to `loss`.
  void Forward(const float* params, const float* features, int64_t first,
               IndexRange rows, ExampleLoss loss, Chunk* chunk) const;
  // From Forward's score gradients, writes scale * d(loss sum)/d(params) of
  // `rows` into chunk->gradient.
  void Backward(const float* features, IndexRange rows, float scale,
                Chunk* chunk) const;
  // Adds the penalty's gradient to grad; returns the penalty.
  double AddPenalty(const float* params, float* grad) const;

  // Constant after construction.
  const int64_t num_features_;
  const int num_outputs_;
  const int64_t num_weights_;  // num_features_ * num_outputs_
  const int max_batch_;
  const int threads_;
  const float l2_;
  const float l1_;

  std::vector<Chunk> chunks_;  // threads_ of them
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_LINEAR_KERNELS_H_
