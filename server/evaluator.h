// Evaluator: measures the current global model on the held-out test set.
// It pulls the parameters through the function it is given (in the
// coordinator, a PsClient pull from every shard) and runs the model's
// forward pass over the whole test set. Not thread-safe.
#ifndef DESCENT_SERVER_EVALUATOR_H_
#define DESCENT_SERVER_EVALUATOR_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "common/data/dataset.h"
#include "common/model/model.h"
#include "descent/v1/coordinator.pb.h"

namespace descent {

class Evaluator {
 public:
  // Fills params[0, P) with the current parameters.
  using PullFn = std::function<absl::Status(float* params)>;

  Evaluator(std::unique_ptr<Model> model, Dataset test);

  // Pulls the parameters and sets test_loss (mean cross-entropy) and
  // test_accuracy of `evaluation`. On error leaves `evaluation` unchanged.
  absl::Status Evaluate(const PullFn& pull, v1::Evaluation* evaluation);

 private:
  const std::unique_ptr<Model> model_;
  const Dataset test_;
  std::vector<float> params_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_EVALUATOR_H_
