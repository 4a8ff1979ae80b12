#include "common/backoff.h"

#include <set>

#include "gtest/gtest.h"

namespace descent {
namespace {

// Each wait lies in [bound / 2, bound] for bound = first * 2^(attempt - 1)
// capped, and waits of the same attempt differ (the jitter).
TEST(BackoffTest, ExponentialCappedAndJittered) {
  const absl::Duration first = absl::Milliseconds(20);
  const absl::Duration cap = absl::Seconds(1);
  for (int attempt = 1; attempt <= 10; ++attempt) {
    absl::Duration bound = first;
    for (int i = 1; i < attempt; ++i) bound *= 2;
    bound = std::min(bound, cap);
    std::set<int64_t> seen;
    for (int draw = 0; draw < 50; ++draw) {
      const absl::Duration wait = Backoff(first, attempt, cap);
      EXPECT_GE(wait, bound / 2) << attempt;
      EXPECT_LE(wait, bound) << attempt;
      seen.insert(absl::ToInt64Microseconds(wait));
    }
    EXPECT_GT(seen.size(), 10u) << "no jitter at attempt " << attempt;
  }
}

TEST(BackoffTest, HugeAttemptsStayAtTheCap) {
  const absl::Duration wait =
      Backoff(absl::Milliseconds(20), 1'000'000, absl::Seconds(10));
  EXPECT_GE(wait, absl::Seconds(5));
  EXPECT_LE(wait, absl::Seconds(10));
}

}  // namespace
}  // namespace descent
