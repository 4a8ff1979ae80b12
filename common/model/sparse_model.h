// The interface of models over sparse features whose parameters live mostly
// in a sparse table on the servers: uint64 key -> row of row_width() floats,
// created on first touch with a deterministic initial value. A step trains
// on the rows of the batch's keys only, plus a few dense parameters (a
// global bias). Factorization machines, matrix factorization and sparse
// logistic regression are SparseModels.
//
// The caller (the worker's trainer, the coordinator's evaluator) turns a
// batch into its sorted unique keys, pulls their rows, and hands the model
// the batch with every entry's key replaced by its slot: the key's position
// in that sorted list, which is also its row's position in `rows`.
//
// Like Model: buffers are sized at construction, one caller at a time per
// instance; callers keep ownership of every pointer they pass.
#ifndef DESCENT_COMMON_MODEL_SPARSE_MODEL_H_
#define DESCENT_COMMON_MODEL_SPARSE_MODEL_H_

#include <cstdint>
#include <vector>

#include "common/model/model.h"
#include "common/model/param_layout.h"

namespace descent {

// How the rows of a sparse table start. Element j of the row for `key` is
// column_stddev[j] * N(0, 1), drawn by hashing (seed, key, j): the same
// value on every server and in every run, whichever shard holds the key.
// A column with stddev 0 starts at 0.
struct SparseTableSpec {
  int row_width = 0;
  std::vector<float> column_stddev;  // row_width entries

  // Both CHECK-fail unless column_stddev holds row_width entries;
  // InitialValue also unless 0 <= column < row_width.
  float InitialValue(uint64_t seed, uint64_t key, int column) const;
  // Writes the row_width initial values of `key`'s row into out.
  void InitializeRow(uint64_t seed, uint64_t key, float* out) const;
};

// A batch of examples in compressed sparse row form, keys already mapped to
// slots. Example i's entries are k in [row_offsets[i], row_offsets[i + 1]),
// row_offsets[0] == 0; entry k is feature slots[k] (a row of `rows`) with
// value values[k]. Classifiers read labels, regression models targets.
struct SparseBatch {
  int size = 0;
  const int64_t* row_offsets = nullptr;  // size + 1
  const int32_t* slots = nullptr;
  const float* values = nullptr;
  const int32_t* labels = nullptr;
  const float* targets = nullptr;
};

class SparseModel {
 public:
  virtual ~SparseModel() = default;

  // The table's row width and initial values.
  virtual const SparseTableSpec& table() const = 0;
  // The dense parameters beside the table (may be empty).
  virtual const ParamLayout& dense_layout() const = 0;

  // Mean loss over the batch (plus any regularization on the rows it
  // touches). `rows` holds num_rows x row_width floats, the rows of the
  // batch's slots. Overwrites dense_grad (dense_layout().size() floats)
  // and row_grad (num_rows x row_width floats) with d(mean loss)/d(them).
  // 1 <= batch.size <= the max batch given at construction; CHECK-fails
  // on a slot outside [0, num_rows) or an invalid label.
  virtual float LossAndGradient(const float* dense, const float* rows,
                                int64_t num_rows, const SparseBatch& batch,
                                float* dense_grad, float* row_grad) = 0;

  // Sum of losses and count of correct predictions over the examples (any
  // size >= 0). If `scores` is not null, writes each example's score there
  // (the logit for a classifier, the prediction for a regression model),
  // e.g. for the area under the ROC curve.
  virtual EvalResult Evaluate(const float* dense, const float* rows,
                              int64_t num_rows, const SparseBatch& examples,
                              float* scores) = 0;

  // As Model::is_classifier: binary classifiers read labels in {0, 1},
  // regression models read targets.
  virtual bool is_classifier() const { return true; }
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_SPARSE_MODEL_H_
