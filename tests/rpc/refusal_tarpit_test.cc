// RefusalTarpit alone: it answers what it holds no sooner than its delay,
// holds nothing past its bounds (calls, bytes) or with no delay, and
// answers everything at once when closed or destroyed. Bounds on time are
// one-sided and generous: held answers come >= the delay, prompt ones well
// before a long one.
#include "rpc/refusal_tarpit.h"

#include <atomic>
#include <memory>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

RefusalTarpitOptions Delay(absl::Duration delay) {
  RefusalTarpitOptions options;
  options.delay = delay;
  return options;
}

TEST(RefusalTarpit, AnswersNoSoonerThanItsDelay) {
  RefusalTarpit tarpit(Delay(absl::Milliseconds(300)));
  const absl::Time start = absl::Now();
  absl::Notification answered;
  absl::Time at;
  ASSERT_TRUE(tarpit.Hold(10, [&] {
    at = absl::Now();
    answered.Notify();
  }));
  EXPECT_EQ(tarpit.held(), 1);
  answered.WaitForNotification();
  EXPECT_GE(at - start, absl::Milliseconds(300));
}

TEST(RefusalTarpit, HoldsNothingWithoutADelay) {
  RefusalTarpit tarpit(Delay(absl::ZeroDuration()));
  EXPECT_FALSE(tarpit.Hold(10, [] {}));
  EXPECT_EQ(tarpit.held(), 0);
}

TEST(RefusalTarpit, HoldsAtMostMaxCallsAndMaxBytes) {
  struct Case {
    int max_calls;
    int64_t max_bytes;
    int64_t bytes_each;
    int held;
  };
  for (const Case& c :
       {Case{2, 1000, 10, 2}, Case{10, 25, 10, 2}, Case{10, 5, 10, 0}}) {
    RefusalTarpitOptions options = Delay(absl::Hours(1));
    options.max_calls = c.max_calls;
    options.max_bytes = c.max_bytes;
    RefusalTarpit tarpit(options);
    std::atomic<int> answered{0};
    int accepted = 0;
    for (int i = 0; i < 4; ++i) {
      accepted += tarpit.Hold(c.bytes_each, [&] { ++answered; });
    }
    EXPECT_EQ(accepted, c.held) << c.max_calls << " " << c.max_bytes;
    EXPECT_EQ(tarpit.held(), c.held);
    EXPECT_EQ(answered.load(), 0);
  }
}

TEST(RefusalTarpit, CloseAnswersEverythingAtOnceAndHoldsNoMore) {
  RefusalTarpit tarpit(Delay(absl::Hours(1)));
  absl::Notification first, second;
  ASSERT_TRUE(tarpit.Hold(1, [&] { first.Notify(); }));
  ASSERT_TRUE(tarpit.Hold(1, [&] { second.Notify(); }));
  tarpit.Close();
  EXPECT_TRUE(first.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(second.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_FALSE(tarpit.Hold(1, [] {}));
}

TEST(RefusalTarpit, DestructionAnswersWhatIsHeld) {
  int answered = 0;
  auto tarpit = std::make_unique<RefusalTarpit>(Delay(absl::Hours(1)));
  ASSERT_TRUE(tarpit->Hold(1, [&] { ++answered; }));
  tarpit.reset();
  EXPECT_EQ(answered, 1);
}

}  // namespace
}  // namespace descent
