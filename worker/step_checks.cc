#include "worker/step_checks.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/exit_codes.h"
#include "common/optim/gradient_norms.h"

namespace descent {

StepChecks::StepChecks(StepCheckOptions options, const ParamLayout& layout,
                       bool has_rows, WorkerMetrics* metrics)
    : options_(options),
      layout_(layout),
      has_rows_(has_rows),
      loss_guard_(options.max_loss_factor, 10) {
  for (const TensorSpec& tensor : layout.tensors()) {
    layers_.push_back(tensor.name);
  }
  if (has_rows) layers_.push_back("sparse_rows");
  norms_.assign(layers_.size(), 0);
  if (metrics != nullptr) {
    for (const std::string& layer : layers_) {
      gauges_.push_back(&metrics->gradient_norm.Add({{"layer", layer}}));
    }
    gauges_.push_back(&metrics->gradient_norm_total);
  }
}

absl::StatusOr<double> StepChecks::Check(int64_t step, float loss,
                                         GradientSpan dense,
                                         GradientSpan rows) {
  if (loss_guard_.Diverges(loss)) {
    std::string message =
        absl::StrCat("training diverged: worker ", options_.worker_id,
                     " got loss ", loss, " at its step ", step);
    if (std::isfinite(loss)) {
      absl::StrAppend(&message, ", more than ", loss_guard_.max_factor(),
                      " times the mean loss of its first steps (",
                      loss_guard_.reference(), ")");
    }
    return DivergedError(message + "; lower the learning rate");
  }
  TensorNorms(layout_, dense.values, norms_.data());
  if (has_rows_) norms_.back() = L2Norm(rows.values, rows.size);
  const double total = CombinedNorm(norms_);
  if (!std::isfinite(total)) {
    size_t layer = 0;
    while (layer + 1 < norms_.size() && std::isfinite(norms_[layer])) ++layer;
    return DivergedError(
        absl::StrCat("training diverged: worker ", options_.worker_id,
                     " got a gradient of L2 norm ", norms_[layer], " in layer ",
                     layers_[layer], " at its step ", step, " (loss ", loss,
                     "); lower the learning rate"));
  }
  for (size_t i = 0; i < gauges_.size(); ++i) {
    gauges_[i]->Set(i < norms_.size() ? norms_[i] : total);
  }
  return total;
}

void StepChecks::Clip(GradientSpan dense, GradientSpan rows,
                      double norm) const {
  if (options_.clip_value > 0) {
    ClipByValue({dense, rows}, options_.clip_value);
    if (options_.clip_norm > 0) norm = GlobalNorm({dense, rows});
  }
  // Without clipping by value, Check()'s norm is the gradient's.
  if (options_.clip_norm > 0)
    ScaleToNorm({dense, rows}, norm, options_.clip_norm);
}

}  // namespace descent
