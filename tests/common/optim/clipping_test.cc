#include "common/optim/clipping.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace descent {
namespace {

std::vector<float> RandomGradient(int n, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::normal_distribution<float> normal(0, 3);
  std::vector<float> g(n);
  for (float& v : g) v = normal(random);
  return g;
}

TEST(ClipByValue, ClampsEveryElementOfEverySpan) {
  std::vector<float> a = {-5, -0.5, 0, 0.5, 5};
  std::vector<float> b = {2, -2};
  ClipByValue({{a.data(), 5}, {b.data(), 2}}, 1.0f);
  EXPECT_EQ(a, (std::vector<float>{-1, -0.5, 0, 0.5, 1}));
  EXPECT_EQ(b, (std::vector<float>{1, -1}));
}

TEST(ClipByGlobalNorm, SlicesClipExactlyAsTheWholeGradient) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    std::vector<float> whole = RandomGradient(100, seed);
    std::vector<float> sliced = whole;
    const double norm = ClipByGlobalNorm({{whole.data(), 100}}, 2.0f);
    // Three unequal "shard" slices of the same gradient.
    const double sliced_norm = ClipByGlobalNorm({{sliced.data(), 17},
                                                 {sliced.data() + 17, 50},
                                                 {sliced.data() + 67, 33}},
                                                2.0f);
    // Equal up to float rounding (L2Norm sums squares in float blocks); a
    // per-slice clip would differ by far more.
    EXPECT_NEAR(norm, sliced_norm, 1e-6 * norm);
    ASSERT_GT(norm, 2.0);
    for (int i = 0; i < 100; ++i) EXPECT_FLOAT_EQ(sliced[i], whole[i]) << i;
    EXPECT_NEAR(GlobalNorm({{whole.data(), 100}}), 2.0, 1e-5);
  }
}

TEST(ClipByGlobalNorm, LeavesSmallGradientsAlone) {
  std::vector<float> g = {0.3f, -0.4f};
  EXPECT_NEAR(ClipByGlobalNorm({{g.data(), 2}}, 1.0f), 0.5, 1e-7);
  EXPECT_EQ(g, (std::vector<float>{0.3f, -0.4f}));
}

}  // namespace
}  // namespace descent
