#include "server/coordinator/evaluator.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "common/eval/roc.h"

namespace descent {

// What the Evaluator needs of a model family: the rows to pull with the
// dense parameters, and the metrics at those parameters.
class Evaluator::TestSet {
 public:
  virtual ~TestSet() = default;
  virtual int64_t num_parameters() const = 0;
  // The rows to pull (null for dense models).
  virtual const PsClient::Rows* rows_to_pull() = 0;
  // Sets test_loss and the family's other metrics of `evaluation` at the
  // parameters (and rows) just pulled.
  virtual absl::Status Score(const float* params,
                             v1::Evaluation* evaluation) = 0;

  // Sparse models: the test set's sorted unique keys and their rows.
  std::vector<uint64_t> keys;
  std::vector<float> rows;
  int row_width = 0;
};

namespace {

// Writes a model's summed results as the evaluation's metrics; `auc` only
// if it has one (sparse binary classifiers).
absl::Status Record(const EvalResult& result, bool classifier,
                    std::optional<double> auc, v1::Evaluation* evaluation) {
  if (result.count == 0) return absl::FailedPreconditionError("empty test set");
  evaluation->set_test_loss(result.loss_sum / result.count);
  if (classifier) {
    evaluation->set_test_accuracy(static_cast<double>(result.correct) /
                                  result.count);
    if (auc.has_value()) evaluation->set_test_auc(*auc);
  } else {
    evaluation->set_test_rmse(std::sqrt(result.loss_sum / result.count));
  }
  return absl::OkStatus();
}

// Moves the test_* figures of `scored` to validation_*.
void MoveToValidation(v1::Evaluation* scored) {
  if (scored->has_test_loss()) scored->set_validation_loss(scored->test_loss());
  if (scored->has_test_accuracy()) {
    scored->set_validation_accuracy(scored->test_accuracy());
  }
  if (scored->has_test_rmse()) scored->set_validation_rmse(scored->test_rmse());
  if (scored->has_test_auc()) scored->set_validation_auc(scored->test_auc());
  scored->clear_test_loss();
  scored->clear_test_accuracy();
  scored->clear_test_rmse();
  scored->clear_test_auc();
}

class DenseTestSet final : public Evaluator::TestSet {
 public:
  DenseTestSet(std::unique_ptr<Model> model, Dataset test)
      : model_(std::move(model)), test_(std::move(test)) {}

  int64_t num_parameters() const override { return model_->layout().size(); }
  const PsClient::Rows* rows_to_pull() override { return nullptr; }

  absl::Status Score(const float* params, v1::Evaluation* evaluation) override {
    const Batch all{test_.features.data(), test_.labels.data(),
                    static_cast<int>(test_.num_examples), test_.targets.data()};
    return Record(model_->Evaluate(params, all), model_->is_classifier(),
                  std::nullopt, evaluation);
  }

 private:
  const std::unique_ptr<Model> model_;
  const Dataset test_;
};

// The test set's keys are computed once: every evaluation pulls their rows.
class SparseTestSet final : public Evaluator::TestSet {
 public:
  SparseTestSet(std::unique_ptr<SparseModel> model, SparseDataset test,
                const std::vector<uint64_t>& extra_keys)
      : model_(std::move(model)),
        test_(std::move(test)),
        scores_(test_.num_examples) {
    row_width = model_->table().row_width;
    keys.assign(test_.indices.begin(), test_.indices.end());
    keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (int64_t key : test_.indices) {
      slots_.push_back(static_cast<int32_t>(
          std::lower_bound(keys.begin(), keys.end(), uint64_t(key)) -
          keys.begin()));
    }
    rows.resize(keys.size() * row_width);
    pull_.width = row_width;
    pull_.pull_keys = &keys;
    pull_.pulled = rows.data();
  }

  int64_t num_parameters() const override {
    return model_->dense_layout().size();
  }
  const PsClient::Rows* rows_to_pull() override { return &pull_; }

  absl::Status Score(const float* params, v1::Evaluation* evaluation) override {
    SparseBatch all;
    all.size = static_cast<int>(test_.num_examples);
    all.row_offsets = test_.row_offsets.data();
    all.slots = slots_.data();
    all.values = test_.values.data();
    all.labels = test_.labels.empty() ? nullptr : test_.labels.data();
    all.targets = test_.targets.empty() ? nullptr : test_.targets.data();
    const EvalResult result =
        model_->Evaluate(params, rows.data(), static_cast<int64_t>(keys.size()),
                         all, scores_.data());
    const bool classifier = model_->is_classifier();
    std::optional<double> auc;
    if (classifier) {
      auc =
          AreaUnderRoc(scores_.data(), test_.labels.data(), test_.num_examples);
    }
    return Record(result, classifier, auc, evaluation);
  }

 private:
  const std::unique_ptr<SparseModel> model_;
  const SparseDataset test_;
  std::vector<int32_t> slots_;  // per entry, into keys
  std::vector<float> scores_;
  PsClient::Rows pull_;
};

}  // namespace

Evaluator::Evaluator(std::unique_ptr<TestSet> test, Split split)
    : test_(std::move(test)), split_(split), params_(test_->num_parameters()) {}

Evaluator::Evaluator(std::unique_ptr<Model> model, Dataset test, Split split)
    : Evaluator(
          std::make_unique<DenseTestSet>(std::move(model), std::move(test)),
          split) {}

Evaluator::Evaluator(std::unique_ptr<SparseModel> model, SparseDataset test,
                     Split split, const std::vector<uint64_t>& extra_keys)
    : Evaluator(std::make_unique<SparseTestSet>(std::move(model),
                                                std::move(test), extra_keys),
                split) {}

Evaluator::~Evaluator() = default;

const std::vector<uint64_t>& Evaluator::keys() const { return test_->keys; }
const std::vector<float>& Evaluator::rows() const { return test_->rows; }
int Evaluator::row_width() const { return test_->row_width; }

absl::Status Evaluator::Evaluate(const PullFn& pull,
                                 v1::Evaluation* evaluation) {
  absl::Status pulled = pull(params_.data(), test_->rows_to_pull());
  if (!pulled.ok()) return pulled;
  v1::Evaluation scored = *evaluation;
  absl::Status status = test_->Score(params_.data(), &scored);
  if (!status.ok()) return status;
  if (split_ == Split::kValidation) MoveToValidation(&scored);
  *evaluation = std::move(scored);
  return absl::OkStatus();
}

}  // namespace descent
