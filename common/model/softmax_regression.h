// Multinomial logistic regression: logits = x W + b, mean cross-entropy of
// softmax(logits) against the labels.
//
// Layout: tensor "weights" {num_features, num_classes}, row-major (element
// (f, c) at f * num_classes + c), init by `weight_init` with fan_in =
// num_features and fan_out = num_classes; then "bias" {num_classes}, zeros.
//
// Each batch is split into threads() chunks, each with its own logits and
// gradient, and the chunks' results are added in chunk order, as
// batch_chunks.h describes: results depend on threads() but not on how many
// OpenMP threads actually run. All buffers are sized at construction: no
// allocation of its own per call (Eigen's GEMM packs on the stack, or on the
// heap past EIGEN_STACK_ALLOCATION_LIMIT). Not thread-safe: one caller at a
// time per instance.
#ifndef DESCENT_COMMON_MODEL_SOFTMAX_REGRESSION_H_
#define DESCENT_COMMON_MODEL_SOFTMAX_REGRESSION_H_

#include <cstdint>
#include <vector>

#include "common/model/aligned_floats.h"
#include "common/model/model.h"
#include "common/model/param_layout.h"
#include "common/partition.h"

namespace descent {

class SoftmaxRegression : public Model {
 public:
  // Batches of up to `max_batch` examples on `threads` threads (<= 0: one
  // per processor; never more than max_batch). CHECK-fails unless
  // num_features >= 1, num_classes >= 1, max_batch >= 1 and l2 >= 0. The
  // training loss adds (l2 / 2) * ||W||^2 (never b); Evaluate leaves it out.
  SoftmaxRegression(int64_t num_features, int num_classes, int max_batch,
                    int threads,
                    InitRule weight_init = InitRule::kXavierUniform,
                    float l2 = 0);

  const ParamLayout& layout() const override { return layout_; }
  float LossAndGradient(const float* params, const Batch& batch,
                        float* grad) override;
  EvalResult Evaluate(const float* params, const Batch& examples) override;

  // The number of chunks (and at most of OpenMP threads) per batch.
  int threads() const { return threads_; }

 private:
  // One chunk's scratch, written only by the thread that runs the chunk.
  struct Chunk {
    AlignedFloats logits;    // rows x num_classes, row-major
    AlignedFloats gradient;  // layout_.size(): dW then db
    double loss_sum = 0;
    int64_t correct = 0;
  };

  // Fills chunk->logits with softmax probabilities of `rows` of the batch
  // (row indices relative to features/labels) and sets loss_sum and correct.
  void Forward(const float* params, const float* features,
               const int32_t* labels, IndexRange rows, Chunk* chunk) const;
  // From Forward's probabilities, writes scale * d(loss sum)/d(params) of
  // `rows` into chunk->gradient.
  void Backward(const float* features, const int32_t* labels, IndexRange rows,
                float scale, Chunk* chunk) const;
  // Runs Forward on `n` rows, chunked over threads.
  void ForwardAll(const float* params, const float* features,
                  const int32_t* labels, int64_t n);

  // Constant after construction.
  const int64_t num_features_;
  const int num_classes_;
  const int max_batch_;
  const int threads_;
  const float l2_;
  const ParamLayout layout_;

  std::vector<Chunk> chunks_;  // threads_ of them
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_SOFTMAX_REGRESSION_H_
