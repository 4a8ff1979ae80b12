#include "common/optim/clipping.h"

#include <algorithm>
#include <cmath>

namespace descent {

void ClipByValue(std::initializer_list<GradientSpan> spans, float limit) {
  for (const GradientSpan& span : spans) {
    for (int64_t i = 0; i < span.size; ++i) {
      span.values[i] = std::clamp(span.values[i], -limit, limit);
    }
  }
}

double GlobalNorm(std::initializer_list<GradientSpan> spans) {
  double sum = 0;
  for (const GradientSpan& span : spans) {
    for (int64_t i = 0; i < span.size; ++i) {
      sum += static_cast<double>(span.values[i]) * span.values[i];
    }
  }
  return std::sqrt(sum);
}

double ClipByGlobalNorm(std::initializer_list<GradientSpan> spans,
                        float max_norm) {
  const double norm = GlobalNorm(spans);
  if (norm <= max_norm) return norm;
  const auto scale = static_cast<float>(max_norm / norm);
  for (const GradientSpan& span : spans) {
    for (int64_t i = 0; i < span.size; ++i) span.values[i] *= scale;
  }
  return norm;
}

}  // namespace descent
