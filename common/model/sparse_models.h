// The SparseModels: sparse logistic regression, an order-2 factorization
// machine and matrix factorization. Each keeps its weights per key in the
// sparse table (one row per key, layout below) and a single bias in its
// dense layout.
//
// Shared conventions:
//  - LossAndGradient returns the mean data loss over the batch plus an L2
//    penalty (l2 / 2) ||row||^2 on every row some entry of the batch touches
//    (counted once however many entries touch it), never on the dense bias
//    nor on rows of `rows` no entry names. Those untouched rows get a zero
//    gradient.
//  - Evaluate sums the data loss alone, unpenalized, over any number of
//    examples, and writes each example's score to scores[i] when asked.
//  - Both CHECK-fail on a slot outside [0, num_rows), an example whose
//    entries run backwards (row_offsets not non-decreasing from 0), a
//    missing labels/targets/values array the model reads, or (classifiers)
//    a label other than 0 or 1.
//
// Sparse batches are small, so everything runs on the calling thread; no
// memory is allocated per call (scratch is sized at construction). Not
// thread-safe: one caller at a time per instance.
#ifndef DESCENT_COMMON_MODEL_SPARSE_MODELS_H_
#define DESCENT_COMMON_MODEL_SPARSE_MODELS_H_

#include <cstdint>
#include <vector>

#include "common/model/model.h"
#include "common/model/param_layout.h"
#include "common/model/sparse_model.h"

namespace descent {

// Logistic regression on sparse features: logit z = bias + sum_k values[k] *
// w[slots[k]] over the example's entries, P(label = 1) = sigmoid(z). Loss
// per example is the cross-entropy with logits,
//   max(z, 0) - z * label + log1p(exp(-|z|)),
// which never overflows. An example is correct when (z > 0) == label.
//
// Table rows: width 1, the weight w_k, initially 0. Dense layout: "bias" {1},
// zeros.
class SparseLogisticRegression : public SparseModel {
 public:
  // Batches of up to `max_batch` examples. CHECK-fails unless max_batch >= 1
  // and l2 >= 0.
  explicit SparseLogisticRegression(int max_batch, float l2 = 0);

  const SparseTableSpec& table() const override { return table_; }
  const ParamLayout& dense_layout() const override { return layout_; }
  float LossAndGradient(const float* dense, const float* rows, int64_t num_rows,
                        const SparseBatch& batch, float* dense_grad,
                        float* row_grad) override;
  EvalResult Evaluate(const float* dense, const float* rows, int64_t num_rows,
                      const SparseBatch& examples, float* scores) override;

 private:
  // Constant after construction.
  const int max_batch_;
  const float l2_;
  const SparseTableSpec table_;
  const ParamLayout layout_;
};

// An order-2 factorization machine (Rendle, 2010) for binary labels. With
// x_i the value of entry i of an example, w_i and v_i the linear weight and
// the factor_dim-vector of its slot's row, the logit is
//   z = bias + sum_i w_i x_i + sum_{i < j} <v_i, v_j> x_i x_j,
// computed in O(entries * factor_dim) as
//   bias + sum_i w_i x_i
//        + 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2].
// The pairs are over entries: an example should name each slot at most once
// (a repeated slot would interact with itself). Loss, correctness and
// labels as SparseLogisticRegression; the L2 penalty covers w and v.
//
// Table rows: width 1 + factor_dim; column 0 is w (initially 0), columns
// 1..factor_dim are v (initially N(0, init_stddev^2)). Dense layout: "bias"
// {1}, zeros.
class FactorizationMachine : public SparseModel {
 public:
  // Batches of up to `max_batch` examples. CHECK-fails unless
  // factor_dim >= 1, max_batch >= 1, l2 >= 0 and init_stddev >= 0.
  FactorizationMachine(int factor_dim, int max_batch, float l2 = 0,
                       float init_stddev = 0.01f);

  const SparseTableSpec& table() const override { return table_; }
  const ParamLayout& dense_layout() const override { return layout_; }
  float LossAndGradient(const float* dense, const float* rows, int64_t num_rows,
                        const SparseBatch& batch, float* dense_grad,
                        float* row_grad) override;
  EvalResult Evaluate(const float* dense, const float* rows, int64_t num_rows,
                      const SparseBatch& examples, float* scores) override;

  int factor_dim() const { return factor_dim_; }

 private:
  // Constant after construction.
  const int factor_dim_;
  const int max_batch_;
  const float l2_;
  const SparseTableSpec table_;
  const ParamLayout layout_;

  // Per-example scratch: sum_i v_if x_i for each factor f.
  std::vector<double> factor_sums_;
};

// Matrix factorization for rating regression. Every example has exactly two
// entries: entry 0 is the user's slot u, entry 1 the item's slot i (their
// values are ignored). The prediction is
//   global_bias + <p_u, q_i> + (biases ? b_u + b_i : 0),
// where p_u, q_i are the first `rank` columns of the two rows and b_u, b_i
// their last column. Reads batch.targets, never labels; `correct` stays 0.
//
// Losses differ on purpose between the two calls:
//  - LossAndGradient returns the mean over the batch of 0.5 * err^2
//    (err = prediction - target), so its gradient is err-scaled, plus the
//    L2 penalty on the embedding columns of touched rows (not the biases).
//  - Evaluate's loss_sum is the sum of err^2, not halved, so that
//    RMSE = sqrt(loss_sum / count).
//
// Table rows: width rank + (biases ? 1 : 0); columns 0..rank-1 the
// embedding (initially N(0, init_stddev^2)), column rank the per-key bias
// (initially 0) if biases. A user and an item share the table, so callers
// key them apart. Dense layout: "global_bias" {1}, zeros.
class MatrixFactorization : public SparseModel {
 public:
  // Batches of up to `max_batch` examples. CHECK-fails unless rank >= 1,
  // max_batch >= 1, l2 >= 0 and init_stddev >= 0.
  MatrixFactorization(int rank, bool biases, int max_batch, float l2 = 0,
                      float init_stddev = 0.1f);

  const SparseTableSpec& table() const override { return table_; }
  const ParamLayout& dense_layout() const override { return layout_; }
  float LossAndGradient(const float* dense, const float* rows, int64_t num_rows,
                        const SparseBatch& batch, float* dense_grad,
                        float* row_grad) override;
  EvalResult Evaluate(const float* dense, const float* rows, int64_t num_rows,
                      const SparseBatch& examples, float* scores) override;
  bool is_classifier() const override { return false; }

  int rank() const { return rank_; }
  bool biases() const { return biases_; }

 private:
  // global_bias + <user, item> (+ both biases), from the two rows.
  double Predict(const float* dense, const float* user,
                 const float* item) const;

  // Constant after construction.
  const int rank_;
  const bool biases_;
  const int max_batch_;
  const float l2_;
  const SparseTableSpec table_;
  const ParamLayout layout_;
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_SPARSE_MODELS_H_
