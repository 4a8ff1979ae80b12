// descent predict and descent evaluate: a model directory (model/ or
// best_model/, server/coordinator/model_dir.h) put to use without a
// cluster (README "The trained model").
//
// Predictions come from the model's own Evaluate, one example at a time,
// so they are exactly what the job's evaluations measured: the class is
// the one Evaluate counts correct (the highest score, the first on a tie),
// and for the cross-entropy models (softmax and logistic regression, MLP,
// CNN) probability p_c = exp(-loss with label c). A linear SVM has scores,
// not probabilities: only its class. A regression value v is sqrt of the
// squared error against target 0, signed by which of the targets -1 and
// +1 is nearer.
#ifndef DESCENT_CLI_PREDICT_H_
#define DESCENT_CLI_PREDICT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/model/model.h"
#include "common/ps_client.h"
#include "descent/v1/model.pb.h"
#include "server/coordinator/model_dir.h"

namespace descent {

// Prints "descent COMMAND: message" on stderr and returns the exit code of
// `status` (not OK; ExitCodeFor in common/exit_codes.h).
int Fail(const std::string& command, const absl::Status& status);

// A model directory with its dense model built from the manifest and its
// parameters in the layout's order.
struct LoadedModel {
  ModelDir dir;
  std::unique_ptr<Model> model;
  std::vector<float> params;
};

// Builds `dir`'s dense model (read from directory `path`) for batches of
// up to `max_batch` examples on `threads` threads and takes its parameters
// from the tensors by name. DATA_LOSS naming the file if the manifest's
// model does not build (a sparse model among others: check first) or a
// tensor is missing or misshapen.
absl::StatusOr<LoadedModel> BuildDenseModel(ModelDir dir,
                                            const std::string& path,
                                            int max_batch, int threads);

struct Prediction {
  int32_t class_id = 0;              // classifiers
  std::vector<float> probabilities;  // cross-entropy classifiers: num_classes
  float value = 0;                   // regression
};

// The model's prediction for each example of `data` (features already
// scaled) at `params`; `num_classes` 0 for regression, 2 for logistic
// regression; `probabilities` for the cross-entropy classifiers (not an
// SVM). INVALID_ARGUMENT if `params` or `data` do not fit the model.
absl::StatusOr<std::vector<Prediction>> Predict(
    Model& model, const std::vector<float>& params, const Dataset& data,
    int32_t num_classes, bool probabilities = true);

// "csv", "libsvm" or "idx": `flag` if given (checked), else by the file
// name: *.csv, *.tsv (optionally .gz) are CSV, *.svm, *.libsvm, *.svmlight
// LIBSVM, names with "idx" or "ubyte" IDX. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> DataFormat(const std::string& path,
                                       const std::string& flag);

// Checks that `data` (read from `path` as `format`) has the manifest's
// num_features, then applies the manifest's scaling. INVALID_ARGUMENT
// naming the file, the format and both widths if not.
absl::Status PrepareFeatures(const v1::ModelManifest& manifest,
                             const std::string& path, const std::string& format,
                             Dataset* data);

struct PredictOptions {
  std::string model_dir;
  std::string data;
  std::string format;        // empty: by file name
  std::string labels;        // IDX label file (optional)
  std::string output;        // empty: stdout
  int64_t max_examples = 0;  // 0: all
};

// Writes "class,label,p0,...,pK-1" (or "class,label" for an SVM, "value"
// for regression) and one row per example. Returns the exit code.
int RunPredict(const PredictOptions& options);

// The Evaluator's pull (server/coordinator/evaluator.h) served from a
// model directory: `dense` (its parameters in layout order) and, for
// sparse models, the directory's saved rows of the keys asked for:
// DATA_LOSS naming `path` for a key it does not hold (it holds only the
// rows the job's evaluations used). `dir` must outlive it.
class ModelDirPull {
 public:
  ModelDirPull(std::vector<float> dense, const ModelDir& dir, std::string path);
  absl::Status operator()(float* params, const PsClient::Rows* rows) const;

 private:
  std::vector<float> dense_;
  std::string path_;
  const std::vector<uint64_t>* keys_ = nullptr;
  const std::vector<float>* rows_ = nullptr;
};

struct EvaluateOptions {
  std::string model_dir;
  std::string config;  // the job's config (its config.textproto)
  // Or a labelled file (dense models), read as descent predict reads it.
  std::string data;
  std::string format;  // empty: by file name
  std::string labels;  // IDX label file
};

// Loads the job's test split as the job did (or `data`, whose labels
// must be among the model's classes) and prints what the job printed of
// it (test_accuracy, test_loss to 4 digits, test_rmse, test_auc to 6,
// where they apply); the test split of sparse models too.
// Returns the exit code.
int RunEvaluate(const EvaluateOptions& options);

}  // namespace descent

#endif  // DESCENT_CLI_PREDICT_H_
