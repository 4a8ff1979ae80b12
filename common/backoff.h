// Waits between retries: exponential backoff with jitter, so that many
// clients that failed together (every worker of a job when a peer
// restarts) do not retry together.
#ifndef DESCENT_COMMON_BACKOFF_H_
#define DESCENT_COMMON_BACKOFF_H_

#include "absl/time/time.h"

namespace descent {

// The wait before retry `attempt` (1, 2, ...): first * 2^(attempt - 1),
// at most `cap`, then scaled by a factor drawn uniformly from [0.5, 1]
// ("equal jitter": never more than the exponential bound, never less than
// half of it). Thread-safe.
absl::Duration Backoff(absl::Duration first, int attempt, absl::Duration cap);

}  // namespace descent

#endif  // DESCENT_COMMON_BACKOFF_H_
