#include "common/model/sparse_models.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "glog/logging.h"

namespace descent {
namespace {

ParamLayout BiasLayout(const char* name) {
  ParamLayout layout;
  layout.Add(TensorSpec{name, {1}, InitRule::kZeros, 0, 0});
  return layout;
}

SparseTableSpec TableOf(std::vector<float> column_stddev) {
  SparseTableSpec table;
  table.row_width = static_cast<int>(column_stddev.size());
  table.column_stddev = std::move(column_stddev);
  return table;
}

const float* RowOf(const float* rows, int32_t slot, int width) {
  return rows + static_cast<int64_t>(slot) * width;
}

float* RowOf(float* rows, int32_t slot, int width) {
  return rows + static_cast<int64_t>(slot) * width;
}

void CheckBatchSize(int size, int max_batch) {
  CHECK(size >= 1 && size <= max_batch)
      << "batch of " << size << " (max " << max_batch << ")";
}

// CHECK-fails unless the row offsets start at 0 and never decrease and every
// slot lies in [0, num_rows). Needs batch.size >= 1.
void CheckEntries(const SparseBatch& batch, int64_t num_rows) {
  CHECK(batch.row_offsets != nullptr) << "no row_offsets";
  CHECK_EQ(batch.row_offsets[0], 0) << "row_offsets[0]";
  for (int i = 0; i < batch.size; ++i) {
    const int64_t begin = batch.row_offsets[i];
    const int64_t end = batch.row_offsets[i + 1];
    CHECK_LE(begin, end) << "entries of example " << i << " run backwards";
    for (int64_t k = begin; k < end; ++k) {
      const int32_t slot = batch.slots[k];
      CHECK(slot >= 0 && slot < num_rows)
          << "slot " << slot << " of example " << i << " outside [0, "
          << num_rows << ")";
    }
  }
}

// Overwrites row_grad (num_rows x width) with the L2 penalty's gradient:
// l2 * row on the first `penalized` columns of each row the batch touches, 0
// everywhere else. Returns the penalty: l2 / 2 times the squared norm of
// those columns, each touched row counted once.
double StartRowGradient(const SparseBatch& batch, const float* rows,
                        int64_t num_rows, int width, int penalized, float l2,
                        float* row_grad) {
  std::fill(row_grad, row_grad + num_rows * width, 0.0f);
  if (l2 == 0) return 0;
  // Marks each touched row with a 1 in its first column, then overwrites
  // every marked row whole: no scratch to size by num_rows.
  const int64_t entries = batch.row_offsets[batch.size];
  for (int64_t k = 0; k < entries; ++k) {
    RowOf(row_grad, batch.slots[k], width)[0] = 1;
  }
  double squares = 0;
  for (int64_t r = 0; r < num_rows; ++r) {
    float* grad = row_grad + r * width;
    if (grad[0] == 0) continue;
    const float* row = rows + r * width;
    for (int c = 0; c < width; ++c) {
      const float w = c < penalized ? row[c] : 0.0f;
      grad[c] = l2 * w;
      squares += static_cast<double>(w) * w;
    }
  }
  return 0.5 * l2 * squares;
}

// 1 / (1 + exp(-z)), with exp() of a non-positive argument only.
double Sigmoid(double z) {
  if (z >= 0) return 1 / (1 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1 + e);
}

// CHECK-fails unless a classifier's batch has labels, and values if it has
// entries.
void CheckLabelsAndValues(const SparseBatch& batch) {
  CHECK(batch.labels != nullptr) << "a classifier needs labels";
  CHECK(batch.values != nullptr || batch.row_offsets[batch.size] == 0)
      << "entries need values";
}

// Cross-entropy of logit z against example i's label, which must be 0 or 1.
// Sets *dz to its derivative, sigmoid(z) - label.
double CrossEntropy(double z, int32_t label, int i, double* dz) {
  CHECK(label == 0 || label == 1) << "label " << label << " of example " << i;
  *dz = Sigmoid(z) - label;
  return std::max(z, 0.0) - z * label + std::log1p(std::exp(-std::abs(z)));
}

// Example i's logit less the bias under an FM with `factors` factors per
// row (0: plain logistic regression); rows have 1 + factors columns. Leaves
// sum_j v_jf x_j in sums[f] for AddFmGradient.
double FmLogit(const float* rows, int factors, const SparseBatch& batch, int i,
               double* sums) {
  std::fill(sums, sums + factors, 0.0);
  double linear = 0;
  double squares = 0;  // sum_f sum_j (v_jf x_j)^2
  for (int64_t k = batch.row_offsets[i]; k < batch.row_offsets[i + 1]; ++k) {
    const float* row = RowOf(rows, batch.slots[k], 1 + factors);
    const double x = batch.values[k];
    linear += row[0] * x;
    for (int f = 0; f < factors; ++f) {
      const double vx = row[1 + f] * x;
      sums[f] += vx;
      squares += vx * vx;
    }
  }
  double pairs = 0;
  for (int f = 0; f < factors; ++f) pairs += sums[f] * sums[f];
  return linear + 0.5 * (pairs - squares);
}

// Adds g * d(FmLogit of example i)/d(rows) to row_grad, from the sums
// FmLogit left.
void AddFmGradient(const float* rows, int factors, const SparseBatch& batch,
                   int i, const double* sums, double g, float* row_grad) {
  for (int64_t k = batch.row_offsets[i]; k < batch.row_offsets[i + 1]; ++k) {
    const float* row = RowOf(rows, batch.slots[k], 1 + factors);
    float* grad = RowOf(row_grad, batch.slots[k], 1 + factors);
    const double x = batch.values[k];
    grad[0] += static_cast<float>(g * x);
    for (int f = 0; f < factors; ++f) {
      grad[1 + f] += static_cast<float>(g * x * (sums[f] - row[1 + f] * x));
    }
  }
}

// SparseModel::LossAndGradient of an FM with `factors` factors (0: logistic
// regression); `sums` is `factors` doubles of scratch.
float FmLossAndGradient(int factors, int max_batch, float l2, double* sums,
                        const float* dense, const float* rows, int64_t num_rows,
                        const SparseBatch& batch, float* dense_grad,
                        float* row_grad) {
  CheckBatchSize(batch.size, max_batch);
  CheckEntries(batch, num_rows);
  CheckLabelsAndValues(batch);
  const int width = 1 + factors;
  const double penalty =
      StartRowGradient(batch, rows, num_rows, width, width, l2, row_grad);
  const double scale = 1.0 / batch.size;
  double loss_sum = 0;
  double bias_grad = 0;
  for (int i = 0; i < batch.size; ++i) {
    const double z = dense[0] + FmLogit(rows, factors, batch, i, sums);
    double dz = 0;
    loss_sum += CrossEntropy(z, batch.labels[i], i, &dz);
    bias_grad += dz * scale;
    AddFmGradient(rows, factors, batch, i, sums, dz * scale, row_grad);
  }
  dense_grad[0] = static_cast<float>(bias_grad);
  return static_cast<float>(loss_sum * scale + penalty);
}

// SparseModel::Evaluate of an FM with `factors` factors (0: logistic
// regression); `sums` is `factors` doubles of scratch.
EvalResult FmEvaluate(int factors, double* sums, const float* dense,
                      const float* rows, int64_t num_rows,
                      const SparseBatch& examples, float* scores) {
  CHECK_GE(examples.size, 0);
  EvalResult result;
  result.count = examples.size;
  if (examples.size == 0) return result;
  CheckEntries(examples, num_rows);
  CheckLabelsAndValues(examples);
  for (int i = 0; i < examples.size; ++i) {
    const double z = dense[0] + FmLogit(rows, factors, examples, i, sums);
    const int32_t label = examples.labels[i];
    double dz = 0;
    result.loss_sum += CrossEntropy(z, label, i, &dz);
    result.correct += (z > 0) == (label == 1);
    if (scores != nullptr) scores[i] = static_cast<float>(z);
  }
  return result;
}

// CHECK-fails unless every example has exactly its user and item entries.
void CheckPairs(const SparseBatch& batch) {
  CHECK(batch.targets != nullptr) << "a regression model needs targets";
  for (int i = 0; i < batch.size; ++i) {
    const int64_t entries = batch.row_offsets[i + 1] - batch.row_offsets[i];
    CHECK_EQ(entries, 2) << "example " << i
                         << " needs exactly 2 entries (user, item)";
  }
}

}  // namespace

SparseLogisticRegression::SparseLogisticRegression(int max_batch, float l2)
    : max_batch_(max_batch),
      l2_(l2),
      table_(TableOf({0.0f})),
      layout_(BiasLayout("bias")) {
  CHECK_GE(max_batch, 1);
  CHECK_GE(l2, 0.0f);
}

float SparseLogisticRegression::LossAndGradient(
    const float* dense, const float* rows, int64_t num_rows,
    const SparseBatch& batch, float* dense_grad, float* row_grad) {
  return FmLossAndGradient(/*factors=*/0, max_batch_, l2_, nullptr, dense, rows,
                           num_rows, batch, dense_grad, row_grad);
}

EvalResult SparseLogisticRegression::Evaluate(const float* dense,
                                              const float* rows,
                                              int64_t num_rows,
                                              const SparseBatch& examples,
                                              float* scores) {
  return FmEvaluate(/*factors=*/0, nullptr, dense, rows, num_rows, examples,
                    scores);
}

FactorizationMachine::FactorizationMachine(int factor_dim, int max_batch,
                                           float l2, float init_stddev)
    : factor_dim_(factor_dim),
      max_batch_(max_batch),
      l2_(l2),
      table_(TableOf([&] {
        std::vector<float> stddev(1 + std::max(factor_dim, 0), init_stddev);
        stddev[0] = 0;
        return stddev;
      }())),
      layout_(BiasLayout("bias")),
      factor_sums_(std::max(factor_dim, 0)) {
  CHECK_GE(factor_dim, 1);
  CHECK_GE(max_batch, 1);
  CHECK_GE(l2, 0.0f);
  CHECK_GE(init_stddev, 0.0f);
}

float FactorizationMachine::LossAndGradient(const float* dense,
                                            const float* rows, int64_t num_rows,
                                            const SparseBatch& batch,
                                            float* dense_grad,
                                            float* row_grad) {
  return FmLossAndGradient(factor_dim_, max_batch_, l2_, factor_sums_.data(),
                           dense, rows, num_rows, batch, dense_grad, row_grad);
}

EvalResult FactorizationMachine::Evaluate(const float* dense, const float* rows,
                                          int64_t num_rows,
                                          const SparseBatch& examples,
                                          float* scores) {
  return FmEvaluate(factor_dim_, factor_sums_.data(), dense, rows, num_rows,
                    examples, scores);
}

MatrixFactorization::MatrixFactorization(int rank, bool biases, int max_batch,
                                         float l2, float init_stddev)
    : rank_(rank),
      biases_(biases),
      max_batch_(max_batch),
      l2_(l2),
      table_(TableOf([&] {
        std::vector<float> stddev(std::max(rank, 0), init_stddev);
        if (biases) stddev.push_back(0);
        return stddev;
      }())),
      layout_(BiasLayout("global_bias")) {
  CHECK_GE(rank, 1);
  CHECK_GE(max_batch, 1);
  CHECK_GE(l2, 0.0f);
  CHECK_GE(init_stddev, 0.0f);
}

double MatrixFactorization::Predict(const float* dense, const float* user,
                                    const float* item) const {
  double prediction = dense[0];
  for (int c = 0; c < rank_; ++c) {
    prediction += static_cast<double>(user[c]) * item[c];
  }
  if (biases_) prediction += static_cast<double>(user[rank_]) + item[rank_];
  return prediction;
}

float MatrixFactorization::LossAndGradient(const float* dense,
                                           const float* rows, int64_t num_rows,
                                           const SparseBatch& batch,
                                           float* dense_grad, float* row_grad) {
  CheckBatchSize(batch.size, max_batch_);
  CheckEntries(batch, num_rows);
  CheckPairs(batch);
  const int width = table_.row_width;
  const double penalty =
      StartRowGradient(batch, rows, num_rows, width, rank_, l2_, row_grad);
  const double scale = 1.0 / batch.size;
  double loss_sum = 0;
  double bias_grad = 0;
  for (int i = 0; i < batch.size; ++i) {
    const int32_t u = batch.slots[batch.row_offsets[i]];
    const int32_t v = batch.slots[batch.row_offsets[i] + 1];
    const float* user = RowOf(rows, u, width);
    const float* item = RowOf(rows, v, width);
    const double err = Predict(dense, user, item) - batch.targets[i];
    loss_sum += 0.5 * err * err;
    const float g = static_cast<float>(err * scale);
    bias_grad += g;
    float* user_grad = RowOf(row_grad, u, width);
    float* item_grad = RowOf(row_grad, v, width);
    for (int c = 0; c < rank_; ++c) {
      user_grad[c] += g * item[c];
      item_grad[c] += g * user[c];
    }
    if (biases_) {
      user_grad[rank_] += g;
      item_grad[rank_] += g;
    }
  }
  dense_grad[0] = static_cast<float>(bias_grad);
  return static_cast<float>(loss_sum * scale + penalty);
}

EvalResult MatrixFactorization::Evaluate(const float* dense, const float* rows,
                                         int64_t num_rows,
                                         const SparseBatch& examples,
                                         float* scores) {
  CHECK_GE(examples.size, 0);
  EvalResult result;
  result.count = examples.size;
  if (examples.size == 0) return result;
  CheckEntries(examples, num_rows);
  CheckPairs(examples);
  const int width = table_.row_width;
  for (int i = 0; i < examples.size; ++i) {
    const int64_t first = examples.row_offsets[i];
    const double prediction =
        Predict(dense, RowOf(rows, examples.slots[first], width),
                RowOf(rows, examples.slots[first + 1], width));
    const double err = prediction - examples.targets[i];
    result.loss_sum += err * err;
    if (scores != nullptr) scores[i] = static_cast<float>(prediction);
  }
  return result;
}

}  // namespace descent
