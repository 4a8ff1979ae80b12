#include "server/evaluator.h"

#include <utility>

namespace descent {

Evaluator::Evaluator(std::unique_ptr<Model> model, Dataset test)
    : model_(std::move(model)),
      test_(std::move(test)),
      params_(model_->layout().size()) {}

absl::Status Evaluator::Evaluate(const PullFn& pull,
                                 v1::Evaluation* evaluation) {
  absl::Status pulled = pull(params_.data());
  if (!pulled.ok()) return pulled;
  const Batch all{test_.features.data(), test_.labels.data(),
                  static_cast<int>(test_.num_examples), test_.targets.data()};
  EvalResult result = model_->Evaluate(params_.data(), all);
  if (result.count == 0) return absl::FailedPreconditionError("empty test set");
  evaluation->set_test_loss(result.loss_sum / result.count);
  evaluation->set_test_accuracy(static_cast<double>(result.correct) /
                                result.count);
  return absl::OkStatus();
}

}  // namespace descent
