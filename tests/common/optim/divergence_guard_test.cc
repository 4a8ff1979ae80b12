#include "common/optim/divergence_guard.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace descent {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(DivergenceGuardTest, NonFiniteLossesAlwaysDiverge) {
  DivergenceGuard off(0, 1);
  EXPECT_FALSE(off.Diverges(1));
  EXPECT_FALSE(off.Diverges(1e30));  // no factor: any finite loss is fine
  EXPECT_TRUE(off.Diverges(kNan));
  EXPECT_TRUE(off.Diverges(kInf));
  EXPECT_TRUE(off.Diverges(-kInf));
}

TEST(DivergenceGuardTest, ReferenceIsTheMeanOfTheFirstLosses) {
  DivergenceGuard guard(10, 3);
  EXPECT_FALSE(guard.Diverges(2));
  EXPECT_FALSE(guard.Diverges(4));
  EXPECT_DOUBLE_EQ(guard.reference(), 3);  // the mean so far
  EXPECT_FALSE(guard.Diverges(6));
  EXPECT_DOUBLE_EQ(guard.reference(), 4);
  EXPECT_FALSE(guard.Diverges(1));  // after the first 3: reference stays
  EXPECT_DOUBLE_EQ(guard.reference(), 4);
  EXPECT_FALSE(guard.Diverges(40));  // exactly 10 times: not above
  EXPECT_TRUE(guard.Diverges(40.001));
  EXPECT_DOUBLE_EQ(guard.reference(), 4);  // a diverging loss is not recorded
}

TEST(DivergenceGuardTest, EarlyExplosionIsCaughtAgainstTheMeanSoFar) {
  DivergenceGuard guard(100, 10);
  EXPECT_FALSE(guard.Diverges(2.3));
  EXPECT_TRUE(guard.Diverges(2.3e3));  // step 2, 1000 times the first
}

TEST(DivergenceGuardTest, ZeroReferenceBoundsNothing) {
  DivergenceGuard guard(100, 1);
  EXPECT_FALSE(guard.Diverges(0));
  EXPECT_FALSE(guard.Diverges(1e6));
  EXPECT_TRUE(guard.Diverges(kNan));
}

}  // namespace
}  // namespace descent
