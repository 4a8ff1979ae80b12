// Turns a job's ModelConfig and its data's shape into a model. Nothing is
// compiled per model: every process builds the same layout from the config
// the coordinator handed it, so all agree on P, on the sparse table's rows
// and on the initial values.
//
// Dense models (softmax, linear and logistic regression, linear SVM, MLP,
// CNN) are Models; sparse ones (sparse logistic regression, factorization
// machine, matrix factorization) are SparseModels (IsSparseModel in
// common/data/data_source.h tells which).
#ifndef DESCENT_COMMON_MODEL_MODEL_FACTORY_H_
#define DESCENT_COMMON_MODEL_MODEL_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/model/model.h"
#include "common/model/param_layout.h"
#include "common/model/sparse_model.h"
#include "descent/v1/job.pb.h"

namespace descent {

struct DataShape {
  int64_t num_features = 0;
  int32_t num_classes = 0;  // 0 for regression data
};

// Everything the servers hold for a model: the dense vector's layout and,
// for sparse models, the table's row spec (row_width 0 for dense models).
struct ModelLayout {
  ParamLayout dense;
  SparseTableSpec table;
};

// The model `config` chooses, by its field name ("softmax_regression",
// "mlp", "sparse_logistic_regression", ...); "none" if it chooses none.
std::string ModelName(const v1::ModelConfig& config);

// The layout of the model `config` describes for `shape`. INVALID_ARGUMENT,
// naming the model, if none is chosen or the shape does not fit it (a
// regression model on class labels, a binary model on more classes, a CNN
// on non-square images, layers that do not fit).
absl::StatusOr<ModelLayout> BuildLayout(const v1::ModelConfig& config,
                                        const DataShape& shape);

// A dense model, with buffers for batches of up to `max_batch` examples
// and `threads` OpenMP threads (0: one per core). INVALID_ARGUMENT as
// BuildLayout, and for a sparse model.
absl::StatusOr<std::unique_ptr<Model>> CreateModel(
    const v1::ModelConfig& config, const DataShape& shape, int max_batch,
    int threads);

// A sparse model for batches of up to `max_batch` examples.
// INVALID_ARGUMENT as BuildLayout, and for a dense model.
absl::StatusOr<std::unique_ptr<SparseModel>> CreateSparseModel(
    const v1::ModelConfig& config, const DataShape& shape, int max_batch);

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_MODEL_FACTORY_H_
