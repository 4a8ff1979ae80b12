// Evaluator: measures the current global model on the held-out test set.
// It pulls the parameters through the function it is given (in the
// coordinator, a PsClient pull from every shard) and runs the model's
// forward pass over the whole test set: test loss always; accuracy for
// classifiers; RMSE for regression models; and, for sparse binary
// classifiers, the area under the ROC curve. Sparse models pull only the
// rows of the test set's keys (computed once, at construction).
// Not thread-safe.
#ifndef DESCENT_SERVER_COORDINATOR_EVALUATOR_H_
#define DESCENT_SERVER_COORDINATOR_EVALUATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "common/data/data_source.h"
#include "common/model/model.h"
#include "common/model/sparse_model.h"
#include "common/ps_client.h"
#include "descent/v1/coordinator.pb.h"

namespace descent {

class Evaluator {
 public:
  // Fills params[0, P) with the current dense parameters and, if `rows` is
  // not null, the rows it asks for (PsClient::Pull's contract).
  using PullFn =
      std::function<absl::Status(float* params, const PsClient::Rows* rows)>;

  // A dense model on dense test examples.
  Evaluator(std::unique_ptr<Model> model, Dataset test);
  // A sparse model on sparse test examples.
  Evaluator(std::unique_ptr<SparseModel> model, SparseDataset test);
  ~Evaluator();

  // Pulls the parameters and sets test_loss (the mean per-example loss;
  // squared error for regression models), test_accuracy or test_rmse, and
  // test_auc of `evaluation`. On error leaves `evaluation` unchanged.
  absl::Status Evaluate(const PullFn& pull, v1::Evaluation* evaluation);

  // The dense parameters as of the last successful Evaluate.
  const std::vector<float>& params() const { return params_; }
  // Sparse models: the test set's keys (sorted, unique) and their rows as
  // of the last successful Evaluate, row_width() floats each. Dense models:
  // empty, and row_width() is 0.
  const std::vector<uint64_t>& keys() const;
  const std::vector<float>& rows() const;
  int row_width() const;

  // The model family's part: what to pull and how to score (defined in
  // evaluator.cc; one for dense models, one for sparse ones).
  class TestSet;

 private:
  explicit Evaluator(std::unique_ptr<TestSet> test);

  const std::unique_ptr<TestSet> test_;
  std::vector<float> params_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_EVALUATOR_H_
