#include "server/coordinator/evaluator.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/model/roc.h"

namespace descent {

Evaluator::Evaluator(std::unique_ptr<Model> model, Dataset test)
    : model_(std::move(model)),
      test_(std::move(test)),
      params_(model_->layout().size()) {}

Evaluator::Evaluator(std::unique_ptr<SparseModel> model, SparseDataset test)
    : sparse_model_(std::move(model)),
      sparse_test_(std::move(test)),
      params_(sparse_model_->dense_layout().size()),
      scores_(sparse_test_.num_examples) {
  std::vector<uint64_t> entries(sparse_test_.indices.begin(),
                                sparse_test_.indices.end());
  keys_ = entries;
  std::sort(keys_.begin(), keys_.end());
  keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
  for (uint64_t key : entries) {
    slots_.push_back(static_cast<int32_t>(
        std::lower_bound(keys_.begin(), keys_.end(), key) - keys_.begin()));
  }
  rows_.resize(keys_.size() * sparse_model_->table().row_width);
}

absl::Status Evaluator::Evaluate(const PullFn& pull,
                                 v1::Evaluation* evaluation) {
  EvalResult result;
  bool classifier;
  double auc = 0;
  if (model_ != nullptr) {
    absl::Status pulled = pull(params_.data(), nullptr);
    if (!pulled.ok()) return pulled;
    const Batch all{test_.features.data(), test_.labels.data(),
                    static_cast<int>(test_.num_examples), test_.targets.data()};
    result = model_->Evaluate(params_.data(), all);
    classifier = model_->is_classifier();
  } else {
    PsClient::Rows rows;
    rows.width = sparse_model_->table().row_width;
    rows.pull_keys = &keys_;
    rows.pulled = rows_.data();
    absl::Status pulled = pull(params_.data(), &rows);
    if (!pulled.ok()) return pulled;
    SparseBatch all;
    all.size = static_cast<int>(sparse_test_.num_examples);
    all.row_offsets = sparse_test_.row_offsets.data();
    all.slots = slots_.data();
    all.values = sparse_test_.values.data();
    all.labels =
        sparse_test_.labels.empty() ? nullptr : sparse_test_.labels.data();
    all.targets =
        sparse_test_.targets.empty() ? nullptr : sparse_test_.targets.data();
    result = sparse_model_->Evaluate(params_.data(), rows_.data(),
                                     static_cast<int64_t>(keys_.size()), all,
                                     scores_.data());
    classifier = sparse_model_->is_classifier();
    if (classifier) {
      auc = AreaUnderRoc(scores_.data(), sparse_test_.labels.data(),
                         sparse_test_.num_examples);
    }
  }
  if (result.count == 0) return absl::FailedPreconditionError("empty test set");
  evaluation->set_test_loss(result.loss_sum / result.count);
  if (classifier) {
    evaluation->set_test_accuracy(static_cast<double>(result.correct) /
                                  result.count);
    evaluation->set_test_auc(auc);
  } else {
    evaluation->set_test_rmse(std::sqrt(result.loss_sum / result.count));
  }
  return absl::OkStatus();
}

}  // namespace descent
