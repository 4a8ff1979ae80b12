#include "common/optim/optimizer.h"

#include "Eigen/Core"

namespace descent {

void SgdOptimizer::Apply(int64_t /*position*/, const float* grad, int64_t n,
                         int64_t /*version*/, float* params) {
  Eigen::Map<Eigen::ArrayXf> p(params, n);
  Eigen::Map<const Eigen::ArrayXf> g(grad, n);
  p -= learning_rate_ * g;
}

absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
    const v1::OptimizerConfig& config, int64_t /*size*/) {
  if (config.has_sgd()) {
    return std::make_unique<SgdOptimizer>(
        static_cast<float>(config.sgd().learning_rate()));
  }
  return absl::InvalidArgumentError("optimizer: none chosen");
}

}  // namespace descent
