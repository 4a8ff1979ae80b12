#include "common/optim/divergence_guard.h"

#include <cmath>

#include "glog/logging.h"

namespace descent {

DivergenceGuard::DivergenceGuard(double max_factor, int reference_count)
    : max_factor_(max_factor), reference_count_(reference_count) {
  CHECK(max_factor == 0 || max_factor >= 1) << max_factor;
  CHECK_GE(reference_count, 1);
}

bool DivergenceGuard::Diverges(double loss) {
  if (!std::isfinite(loss)) return true;
  const double reference = this->reference();
  if (max_factor_ > 0 && reference > 0 && loss > max_factor_ * reference) {
    return true;
  }
  if (reference_seen_ < reference_count_) {
    reference_sum_ += loss;
    ++reference_seen_;
  }
  return false;
}

double DivergenceGuard::reference() const {
  return reference_seen_ > 0 ? reference_sum_ / reference_seen_ : 0;
}

}  // namespace descent
