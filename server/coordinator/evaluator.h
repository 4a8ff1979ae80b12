// Evaluator: measures the current global model on a held-out split (the
// test set, or the validation set).
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

  // Which of the Evaluation's fields the figures go to.
  enum class Split { kTest, kValidation };

  // A dense model on dense examples.
  Evaluator(std::unique_ptr<Model> model, Dataset test,
            Split split = Split::kTest);
  // A sparse model on sparse examples. `extra_keys` are pulled with the
  // examples' own (and kept in keys() and rows()), so that the parameters
  // kept from an evaluation also score another split's examples.
  Evaluator(std::unique_ptr<SparseModel> model, SparseDataset test,
            Split split = Split::kTest,
            const std::vector<uint64_t>& extra_keys = {});
  ~Evaluator();

  // Pulls the parameters and sets, for its split (test_* or validation_*),
  // the loss (the mean per-example loss; squared error for regression
  // models), and the accuracy (classifiers) or the RMSE (regression), and
  // for sparse binary classifiers the AUC; the fields that do not apply stay
  // unset. On error leaves `evaluation` unchanged.
  absl::Status Evaluate(const PullFn& pull, v1::Evaluation* evaluation);

  // The dense parameters as of the last successful Evaluate.
  const std::vector<float>& params() const { return params_; }
  // Sparse models: the examples' keys and the extra keys (sorted, unique)
  // and their rows as of the last successful Evaluate, row_width() floats
  // each. Dense models: empty, and row_width() is 0.
  const std::vector<uint64_t>& keys() const;
  const std::vector<float>& rows() const;
  int row_width() const;

  // The model family's part: what to pull and how to score (defined in
  // evaluator.cc; one for dense models, one for sparse ones).
  class TestSet;

 private:
  Evaluator(std::unique_ptr<TestSet> test, Split split);

  const std::unique_ptr<TestSet> test_;
  const Split split_;
  std::vector<float> params_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_EVALUATOR_H_
