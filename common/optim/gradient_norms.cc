#include "common/optim/gradient_norms.h"

#include <algorithm>
#include <cmath>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"

namespace descent {

double L2Norm(const float* values, int64_t size) {
  // Float sums stay accurate over a block; the blocks add up in double.
  constexpr int64_t kBlock = 4096;
  double sum = 0;
  for (int64_t begin = 0; begin < size; begin += kBlock) {
    const int64_t n = std::min(kBlock, size - begin);
    sum += Eigen::Map<const Eigen::VectorXf>(values + begin, n).squaredNorm();
  }
  return std::sqrt(sum);
}

void TensorNorms(const ParamLayout& layout, const float* grad, double* norms) {
  for (size_t t = 0; t < layout.tensors().size(); ++t) {
    const int64_t begin = layout.offset(t);
    const int64_t end =
        t + 1 < layout.tensors().size() ? layout.offset(t + 1) : layout.size();
    norms[t] = L2Norm(grad + begin, end - begin);
  }
}

double CombinedNorm(const std::vector<double>& norms) {
  double sum = 0;
  for (double norm : norms) sum += norm * norm;
  return std::sqrt(sum);
}

std::optional<std::string> OutsideNormBand(double norm,
                                           const v1::GradientNormBand& band) {
  if (!std::isfinite(norm)) return absl::StrCat(norm, " is not finite");
  if (band.min() > 0 && norm < band.min()) {
    return absl::StrCat(norm, " is below the band's min ", band.min(),
                        ": vanishing gradients");
  }
  if (band.max() > 0 && norm > band.max()) {
    return absl::StrCat(norm, " is above the band's max ", band.max(),
                        ": exploding gradients");
  }
  return std::nullopt;
}

std::vector<std::string> GradientNormWarnings(
    const v1::Evaluation& evaluation, const v1::GradientNormBand& band) {
  std::vector<std::string> warnings;
  for (const v1::GradientNorm& layer : evaluation.gradient_norms()) {
    if (std::optional<std::string> why = OutsideNormBand(layer.norm(), band)) {
      warnings.push_back(absl::StrCat("gradient norm of layer ", layer.layer(),
                                      " at step ", evaluation.step(), ": ",
                                      *why));
    }
  }
  return warnings;
}

}  // namespace descent
