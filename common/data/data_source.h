// DataSource: a job's data as its config describes it (which files or which
// generator, how train and test are split, how features are scaled, dense or
// sparse) so that the coordinator and every worker see exactly the same
// examples.
//
// The coordinator calls Describe(), LoadTest() and LoadValidation(); worker
// k of W calls LoadTrainShard(k, W) and keeps only its contiguous share of
// the training split (the validation split held out first). Without a test
// file, every test_every-th data line of the training file is held out (lines
// test_every - 1, 2 test_every - 1, ..., counting data lines from 0): any other
// tool can rebuild the same split. Scaling statistics come from the training
// split only and are applied to both.
//
// With a training and a test file, what the files decide together is
// decided from both, identically in every process: the class labels'
// encoding (UnifyClasses, class_labels.h) and, where data.libsvm.zero_based
// is unset, the LIBSVM index base (0-based if index 0 occurs in either
// file; logged). Describe() adds the data's shape and warnings
// (data_description.h).
//
// Representation follows the model: sparse models (sparse logistic
// regression, factorization machine, matrix factorization) get a
// SparseDataset, every other model a dense Dataset; dense sources are
// converted for sparse models (zeros dropped) and LIBSVM files for dense
// ones. Ratings become two-entry rows: entry 0 is the user's key 2 * user,
// entry 1 the item's key 2 * item + 1 (the one place where a row's keys are
// not sorted), values 1 and the rating as the target.
//
// Errors are the readers' (they name the file, the line or record, and the
// problem) plus shape mismatches between the splits. Thread-compatible.
#ifndef DESCENT_COMMON_DATA_DATA_SOURCE_H_
#define DESCENT_COMMON_DATA_DATA_SOURCE_H_

#include <cstdint>
#include <functional>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/csv_reader.h"
#include "common/data/data_description.h"
#include "common/data/dataset.h"
#include "common/data/libsvm_reader.h"
#include "common/data/sparse_dataset.h"
#include "descent/v1/job.pb.h"

namespace descent {

// Examples in the form the job's model reads: sparse for sparse models,
// dense otherwise. Holds exactly one of the two; asking for the other
// CHECK-fails. Default: no dense examples.
class Examples {
 public:
  Examples() = default;
  explicit Examples(Dataset dense) : data_(std::move(dense)) {}
  explicit Examples(SparseDataset sparse) : data_(std::move(sparse)) {}

  bool is_sparse() const {
    return std::holds_alternative<SparseDataset>(data_);
  }
  const Dataset& dense() const;
  Dataset& dense();
  const SparseDataset& sparse() const;
  SparseDataset& sparse();

  int64_t size() const {
    return std::visit([](const auto& d) { return d.num_examples; }, data_);
  }
  int64_t num_features() const {
    return std::visit([](const auto& d) { return d.num_features; }, data_);
  }
  int32_t num_classes() const {
    return std::visit([](const auto& d) { return d.num_classes; }, data_);
  }

 private:
  std::variant<Dataset, SparseDataset> data_;
};

// For synthetic data, the planted model and how it does on the test split.
struct PlantedModel {
  // LINEAR_REGRESSION and LOGISTIC: the weights and bias.
  std::vector<float> weights;
  float bias = 0;
  // CTR: the planted scores' area under the ROC curve on the test split.
  double test_auc = 0;
  // RATINGS: the RMSE of the noise-free ratings on the test split.
  double test_rmse = 0;
};

// True if `model` trains on sparse rows from a sparse table.
bool IsSparseModel(const v1::ModelConfig& model);

class DataSource {
 public:
  // `config` must be valid (FindConfigIssue) with defaults applied.
  explicit DataSource(const v1::JobConfig& config);

  // The data's shape and warnings. IDX files read as they are yield it
  // from their headers (and a validation file's data): LoadTest() reads and
  // validates the test set itself.
  absl::StatusOr<DataDescription> Describe() const;
  absl::StatusOr<Examples> LoadTest() const;
  // The validation split: DataConfig.validation_fraction of the training
  // split, held out (every example i with floor((i + 1) f) > floor(i f)), or
  // the source's validation file(s); no examples if neither is configured.
  // Held-out examples are not in any training shard.
  absl::StatusOr<Examples> LoadValidation() const;
  // Training examples SplitEvenly(N, num_shards)[shard].
  absl::StatusOr<Examples> LoadTrainShard(int shard, int num_shards) const;
  // Training examples [range.begin, range.end) (validation examples
  // excluded from the numbering); INVALID_ARGUMENT past the training set.
  absl::StatusOr<Examples> LoadTrainRange(IndexRange range) const;
  // For synthetic data, the planted model; an empty PlantedModel otherwise.
  PlantedModel Planted() const;

 private:
  struct Splits {
    Examples train;
    Examples test;
    Examples validation;  // no examples without one
    // With data.scaling: the scaler fitted on the training split.
    std::vector<float> scaling_offset;
    std::vector<float> scaling_scale;
  };
  absl::StatusOr<Splits> LoadAll() const;
  // The training examples range_of(training set size) names.
  absl::StatusOr<Examples> LoadTrain(
      const std::function<absl::StatusOr<IndexRange>(int64_t)>& range_of) const;
  absl::StatusOr<Splits> ReadDense() const;
  absl::StatusOr<Splits> ReadSparse() const;
  // Whole IDX files can be read by ranges without loading everything (not
  // when a validation fraction is held out of them).
  bool ReadsIdxDirectly() const;
  // Fills in what `splits` show beyond their sizes: labels, warnings.
  void Examine(const Splits& splits, DataDescription* description) const;

  const v1::DataConfig data_;
  const bool sparse_;
};

// The reader options a job's data.csv or data.libsvm stands for (the file
// names aside); `csv` validated (FindConfigIssue).
CsvOptions CsvOptionsOf(const v1::CsvDataConfig& csv);
LibsvmOptions LibsvmOptionsOf(const v1::LibsvmDataConfig& libsvm);

// Rows [range.begin, range.end) of `data`.
Dataset SliceRows(const Dataset& data, IndexRange range);
SparseDataset SliceRows(const SparseDataset& data, IndexRange range);

// The same examples with only their non-zero features stored.
SparseDataset ToSparse(const Dataset& dense);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_DATA_SOURCE_H_
