#include "server/coordinator/evaluation_tracker.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace descent {

double SelectionLoss(const v1::Evaluation& evaluation) {
  return evaluation.has_validation_loss() ? evaluation.validation_loss()
                                          : evaluation.test_loss();
}

EvaluationTracker::EvaluationTracker(EvaluationTrackerOptions options)
    : options_(options), test_loss_guard_(options.max_loss_factor, 1) {}

void EvaluationTracker::AddProgress(const v1::WorkerProgress& old,
                                    const v1::WorkerProgress& p) {
  const int64_t new_count = p.loss_count() - old.loss_count();
  if (new_count > 0) {
    loss_sum_ += p.loss_sum() - old.loss_sum();
    loss_count_ += new_count;
  }
  AddGradientNorms(old, p);
}

void EvaluationTracker::AddGradientNorms(const v1::WorkerProgress& old,
                                         const v1::WorkerProgress& p) {
  const int64_t new_count = p.gradient_norm_count() - old.gradient_norm_count();
  const int layers = p.gradient_norm_layers_size();
  if (new_count <= 0 || p.gradient_norm_sums_size() != layers) return;
  if (norm_layers_.empty()) {
    norm_layers_.assign(p.gradient_norm_layers().begin(),
                        p.gradient_norm_layers().end());
    norm_sums_.assign(layers, 0);
  }
  if (!std::equal(norm_layers_.begin(), norm_layers_.end(),
                  p.gradient_norm_layers().begin(),
                  p.gradient_norm_layers().end())) {
    return;
  }
  const bool had_sums = old.gradient_norm_sums_size() == layers;
  for (int i = 0; i < layers; ++i) {
    norm_sums_[i] +=
        p.gradient_norm_sums(i) - (had_sums ? old.gradient_norm_sums(i) : 0);
  }
  norm_total_sum_ +=
      p.gradient_norm_total_sum() - old.gradient_norm_total_sum();
  norm_count_ += new_count;
}

void EvaluationTracker::Restore(const std::vector<v1::Evaluation>& history,
                                int64_t next_step) {
  for (const v1::Evaluation& evaluation : history) Record(evaluation);
  restored_next_step_ = next_step;
}

void EvaluationTracker::StartSchedule() {
  next_step_ = options_.eval_every_steps;
  if (restored_next_step_ > 0 && options_.eval_every_steps > 0) {
    next_step_ = restored_next_step_;
  }
}

bool EvaluationTracker::Due(int64_t global_step) const {
  return next_step_ > 0 && global_step >= next_step_;
}

int64_t DefaultEvalEverySteps(int64_t total_steps) {
  return std::max<int64_t>(1, total_steps / 20);
}

v1::Evaluation EvaluationTracker::Begin(int64_t step, double epoch,
                                        double wall_seconds, bool final) {
  v1::Evaluation evaluation;
  evaluation.set_step(step);
  evaluation.set_epoch(epoch);
  evaluation.set_wall_seconds(wall_seconds);
  evaluation.set_train_loss(loss_count_ > 0 ? loss_sum_ / loss_count_ : 0);
  loss_sum_ = 0;
  loss_count_ = 0;
  TakeGradientNorms(&evaluation);
  const int64_t every = options_.eval_every_steps;
  if (every <= 0 || next_step_ <= 0) return evaluation;
  if (!final && step >= next_step_) {
    // One boundary at a time: those still passed fall due at once.
    evaluation.set_due_step(next_step_);
    next_step_ += every;
  } else {
    while (next_step_ <= step) next_step_ += every;
  }
  return evaluation;
}

void EvaluationTracker::TakeGradientNorms(v1::Evaluation* evaluation) {
  if (norm_count_ > 0) {
    for (size_t i = 0; i < norm_layers_.size(); ++i) {
      v1::GradientNorm* norm = evaluation->add_gradient_norms();
      norm->set_layer(norm_layers_[i]);
      norm->set_norm(norm_sums_[i] / norm_count_);
    }
    evaluation->set_gradient_norm(norm_total_sum_ / norm_count_);
  }
  std::fill(norm_sums_.begin(), norm_sums_.end(), 0);
  norm_total_sum_ = 0;
  norm_count_ = 0;
}

EvaluationTracker::Outcome EvaluationTracker::Record(
    const v1::Evaluation& evaluation) {
  evaluations_.push_back(evaluation);
  Outcome outcome;
  outcome.divergence = Divergence(evaluation);
  if (!outcome.divergence.empty()) return outcome;
  if (best_ < 0 ||
      SelectionLoss(evaluation) <
          SelectionLoss(evaluations_[best_]) - options_.min_delta) {
    best_ = count() - 1;
    since_best_ = 0;
    outcome.best = true;
    return outcome;
  }
  ++since_best_;
  outcome.patience_exhausted =
      options_.patience > 0 && since_best_ >= options_.patience;
  return outcome;
}

std::string EvaluationTracker::Divergence(const v1::Evaluation& evaluation) {
  const double loss = SelectionLoss(evaluation);
  if (!test_loss_guard_.Diverges(loss)) return "";
  std::string error =
      absl::StrCat("training diverged: the ",
                   evaluation.has_validation_loss() ? "validation" : "test",
                   " loss at step ", evaluation.step(), " is ", loss);
  if (std::isfinite(loss)) {
    absl::StrAppend(&error, ", more than ", test_loss_guard_.max_factor(),
                    " times the first evaluation's (",
                    test_loss_guard_.reference(), ")");
  }
  return error + "; lower the learning rate";
}

const v1::Evaluation* EvaluationTracker::last() const {
  return evaluations_.empty() ? nullptr : &evaluations_.back();
}

const v1::Evaluation* EvaluationTracker::result() const {
  if (early_stopping() && best_ >= 0) return &evaluations_[best_];
  return last();
}

}  // namespace descent
