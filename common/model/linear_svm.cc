#include "common/model/linear_svm.h"

#include <algorithm>

#include "glog/logging.h"

namespace descent {
namespace {

ParamLayout SvmLayout(int64_t features, int classes) {
  ParamLayout layout;
  layout.Add(
      TensorSpec{"weights", {features, classes}, InitRule::kZeros, 0, 0});
  layout.Add(TensorSpec{"bias", {classes}, InitRule::kZeros, 0, 0});
  return layout;
}

}  // namespace

LinearSvm::LinearSvm(int64_t num_features, int num_classes, int max_batch,
                     int threads, float l2, float l1)
    : num_classes_(num_classes),
      layout_(SvmLayout(num_features, num_classes)),
      kernels_(num_features, num_classes, max_batch, threads, l2, l1) {}

float LinearSvm::LossAndGradient(const float* params, const Batch& batch,
                                 float* grad) {
  const int32_t* labels = batch.labels;
  return kernels_.LossAndGradient(
      params, batch.features, batch.size,
      [this, labels](int64_t i, float* scores, bool* correct) {
        return Hinge(labels, i, scores, correct);
      },
      grad);
}

EvalResult LinearSvm::Evaluate(const float* params, const Batch& examples) {
  const int32_t* labels = examples.labels;
  return kernels_.Evaluate(
      params, examples.features, examples.size,
      [this, labels](int64_t i, float* scores, bool* correct) {
        return Hinge(labels, i, scores, correct);
      });
}

double LinearSvm::Hinge(const int32_t* labels, int64_t i, float* scores,
                        bool* correct) const {
  const int32_t label = labels[i];
  CHECK(label >= 0 && label < num_classes_)
      << "label " << label << " of example " << i;
  *correct = std::max_element(scores, scores + num_classes_) - scores == label;
  double loss = 0;
  for (int c = 0; c < num_classes_; ++c) {
    const float y = c == label ? 1.0f : -1.0f;
    const double margin = static_cast<double>(y) * scores[c];
    loss += margin < 1 ? 1 - margin : 0;
    scores[c] = margin < 1 ? -y : 0.0f;
  }
  return loss;
}

}  // namespace descent
