#include "common/backoff.h"

#include <algorithm>

#include "absl/random/random.h"

namespace descent {

absl::Duration Backoff(absl::Duration first, int attempt, absl::Duration cap) {
  absl::Duration bound = first;
  for (int i = 1; i < attempt && bound < cap; ++i) bound *= 2;
  bound = std::min(bound, cap);
  thread_local absl::BitGen random;
  return bound * absl::Uniform(absl::IntervalClosedClosed, random, 0.5, 1.0);
}

}  // namespace descent
