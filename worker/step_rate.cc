#include "worker/step_rate.h"

#include <algorithm>

namespace descent {

StepRate::StepRate(int window) : steps_(std::max(window, 2)) {}

void StepRate::Add(absl::Time end, int64_t examples) {
  steps_[next_] = {end, examples};
  next_ = (next_ + 1) % steps_.size();
  count_ = std::min(count_ + 1, steps_.size());
}

double StepRate::SpanSeconds() const {
  if (count_ < 2) return 0;
  const size_t newest = (next_ + steps_.size() - 1) % steps_.size();
  const size_t oldest = (next_ + steps_.size() - count_) % steps_.size();
  return absl::ToDoubleSeconds(steps_[newest].end - steps_[oldest].end);
}

double StepRate::steps_per_second() const {
  const double span = SpanSeconds();
  return span > 0 ? static_cast<double>(count_ - 1) / span : 0;
}

double StepRate::examples_per_second() const {
  const double span = SpanSeconds();
  if (span <= 0) return 0;
  // The oldest step's examples were done before the span began.
  int64_t examples = 0;
  for (size_t i = 1; i < count_; ++i) {
    examples += steps_[(next_ + steps_.size() - i) % steps_.size()].examples;
  }
  return static_cast<double>(examples) / span;
}

}  // namespace descent
