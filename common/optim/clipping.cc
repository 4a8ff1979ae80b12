#include "common/optim/clipping.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/optim/gradient_norms.h"

namespace descent {

void ClipByValue(std::initializer_list<GradientSpan> spans, float limit) {
  for (const GradientSpan& span : spans) {
    for (int64_t i = 0; i < span.size; ++i) {
      span.values[i] = std::clamp(span.values[i], -limit, limit);
    }
  }
}

double GlobalNorm(std::initializer_list<GradientSpan> spans) {
  std::vector<double> norms;
  for (const GradientSpan& span : spans) {
    norms.push_back(L2Norm(span.values, span.size));
  }
  return CombinedNorm(norms);
}

void ScaleToNorm(std::initializer_list<GradientSpan> spans, double norm,
                 float max_norm) {
  if (norm <= max_norm) return;
  const auto scale = static_cast<float>(max_norm / norm);
  for (const GradientSpan& span : spans) {
    for (int64_t i = 0; i < span.size; ++i) span.values[i] *= scale;
  }
}

double ClipByGlobalNorm(std::initializer_list<GradientSpan> spans,
                        float max_norm) {
  const double norm = GlobalNorm(spans);
  ScaleToNorm(spans, norm, max_norm);
  return norm;
}

}  // namespace descent
