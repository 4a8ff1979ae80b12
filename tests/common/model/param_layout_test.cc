#include "common/model/param_layout.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace descent {
namespace {

// Four tensors, one of each rule, with awkward sizes so slices cross them.
ParamLayout MixedLayout() {
  ParamLayout layout;
  layout.Add({"dense/w", {37, 11}, InitRule::kXavierUniform, 37, 11});
  layout.Add({"dense/b", {11}, InitRule::kZeros, 0, 0});
  layout.Add({"conv/w", {3, 3, 5}, InitRule::kHeNormal, 45, 5});
  layout.Add({"embed", {13, 7}, InitRule::kNormal, 0, 0, 0.5f});
  return layout;
}

std::vector<float> WholeInit(const ParamLayout& layout, uint64_t seed) {
  std::vector<float> values(layout.size());
  layout.Initialize(seed, 0, layout.size(), values.data());
  return values;
}

struct Moments {
  double mean = 0;
  double variance = 0;
};

Moments SampleMoments(const std::vector<float>& v) {
  Moments m;
  for (float x : v) m.mean += x;
  m.mean /= v.size();
  for (float x : v) m.variance += (x - m.mean) * (x - m.mean);
  m.variance /= v.size() - 1;
  return m;
}

// The values of a layout holding one tensor of `n` elements.
std::vector<float> Sample(TensorSpec spec, int64_t n, uint64_t seed) {
  spec.shape = {n};
  ParamLayout layout;
  layout.Add(spec);
  return WholeInit(layout, seed);
}

TEST(ParamLayout, SizesAndOffsetsFollowTheTensorsInOrder) {
  const ParamLayout layout = MixedLayout();
  ASSERT_EQ(layout.tensors().size(), 4u);
  EXPECT_EQ(layout.offset(0), 0);
  EXPECT_EQ(layout.offset(1), 37 * 11);
  EXPECT_EQ(layout.offset(2), 37 * 11 + 11);
  EXPECT_EQ(layout.offset(3), 37 * 11 + 11 + 45);
  EXPECT_EQ(layout.size(), 37 * 11 + 11 + 45 + 13 * 7);
  EXPECT_EQ(layout.tensors()[2].name, "conv/w");
  EXPECT_EQ(ParamLayout().size(), 0);
}

TEST(ParamLayout, SameSeedGivesSameValuesOtherSeedOthers) {
  const ParamLayout layout = MixedLayout();
  const std::vector<float> a = WholeInit(layout, 42);
  EXPECT_EQ(a, WholeInit(layout, 42));
  EXPECT_EQ(a, WholeInit(ParamLayout(layout), 42));
  const std::vector<float> b = WholeInit(layout, 43);
  int64_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i] != b[i];
  // Only the zeros tensor agrees.
  EXPECT_EQ(differing, layout.size() - 11);
}

TEST(ParamLayout, InitialValueMatchesInitialize) {
  const ParamLayout layout = MixedLayout();
  const std::vector<float> whole = WholeInit(layout, 7);
  for (int64_t i = 0; i < layout.size(); ++i) {
    ASSERT_EQ(layout.InitialValue(7, i), whole[i]) << "index " << i;
  }
}

TEST(ParamLayout, AnySliceEqualsTheWholeInit) {
  const ParamLayout layout = MixedLayout();
  const int64_t p = layout.size();
  const std::vector<float> whole = WholeInit(layout, 99);
  const int64_t cuts[][2] = {{0, p},     {0, 0},     {p, p},   {0, 1},
                             {400, 430}, {405, 460}, {5, 500}, {p - 1, p},
                             {407, 407}, {463, p}};
  for (const auto& cut : cuts) {
    const int64_t begin = cut[0], end = cut[1];
    std::vector<float> slice(end - begin + 1, -123.0f);
    layout.Initialize(99, begin, end, slice.data());
    for (int64_t i = begin; i < end; ++i) {
      ASSERT_EQ(slice[i - begin], whole[i])
          << "[" << begin << ", " << end << ") at " << i;
    }
    EXPECT_EQ(slice[end - begin], -123.0f) << "wrote past the slice";
  }
}

TEST(ParamLayout, EmptyTensorsAreSkipped) {
  ParamLayout layout;
  layout.Add({"empty", {0, 4}, InitRule::kXavierUniform, 1, 1});
  layout.Add({"w", {6}, InitRule::kNormal, 0, 0, 1.0f});
  layout.Add({"also_empty", {0}, InitRule::kZeros, 0, 0});
  layout.Add({"b", {2}, InitRule::kZeros, 0, 0});
  ASSERT_EQ(layout.size(), 8);
  const std::vector<float> whole = WholeInit(layout, 3);
  EXPECT_NE(whole[5], 0.0f);
  EXPECT_EQ(whole[6], 0.0f);
  EXPECT_EQ(whole[7], 0.0f);
  std::vector<float> tail(2);
  layout.Initialize(3, 6, 8, tail.data());
  EXPECT_EQ(tail, std::vector<float>(whole.begin() + 6, whole.end()));
}

TEST(ParamLayout, ZerosTensorIsZero) {
  for (float v : Sample({"b", {}, InitRule::kZeros, 0, 0}, 1000, 5)) {
    ASSERT_EQ(v, 0.0f);
  }
}

TEST(ParamLayout, XavierUniformIsBoundedWithUniformMoments) {
  const int64_t fan_in = 300, fan_out = 100;
  const double a = std::sqrt(6.0 / (fan_in + fan_out));
  const std::vector<float> v =
      Sample({"w", {}, InitRule::kXavierUniform, fan_in, fan_out}, 10000, 11);
  for (float x : v) ASSERT_LE(std::abs(x), static_cast<float>(a));
  const Moments m = SampleMoments(v);
  // U(-a, a): mean 0, variance a^2 / 3; the mean's stddev is ~0.0006 here.
  EXPECT_NEAR(m.mean, 0.0, 0.005);
  EXPECT_NEAR(m.variance, a * a / 3, 0.05 * a * a / 3);
}

TEST(ParamLayout, HeNormalVarianceIsTwoOverFanIn) {
  const int64_t fan_in = 50;
  const std::vector<float> v =
      Sample({"w", {}, InitRule::kHeNormal, fan_in, 10}, 10000, 12);
  const Moments m = SampleMoments(v);
  const double variance = 2.0 / fan_in;
  EXPECT_NEAR(m.mean, 0.0, 5 * std::sqrt(variance / v.size()));
  EXPECT_NEAR(m.variance, variance, 0.06 * variance);
}

TEST(ParamLayout, TorchDefaultIsUniformOverOneOverSqrtFanIn) {
  const int64_t fan_in = 200;
  const double b = 1.0 / std::sqrt(static_cast<double>(fan_in));
  const std::vector<float> v =
      Sample({"w", {}, InitRule::kTorchDefault, fan_in, 10}, 10000, 14);
  for (float x : v) ASSERT_LE(std::abs(x), static_cast<float>(b));
  const Moments m = SampleMoments(v);
  EXPECT_NEAR(m.mean, 0.0, 0.005 * b * 10);
  EXPECT_NEAR(m.variance, b * b / 3, 0.05 * b * b / 3);
  // Uniform, not normal: a quarter of the mass in each quarter of the range.
  int64_t outer = 0;
  for (float x : v) outer += std::abs(x) > 0.5 * b;
  EXPECT_NEAR(outer / 10000.0, 0.5, 0.02);
}

TEST(ParamLayout, NormalUsesItsStddev) {
  const std::vector<float> v =
      Sample({"e", {}, InitRule::kNormal, 0, 0, 0.25f}, 10000, 13);
  const Moments m = SampleMoments(v);
  EXPECT_NEAR(m.mean, 0.0, 5 * 0.25 / 100);
  EXPECT_NEAR(m.variance, 0.0625, 0.06 * 0.0625);
  int64_t within_one_sigma = 0;
  for (float x : v) within_one_sigma += std::abs(x) < 0.25f;
  EXPECT_NEAR(within_one_sigma / 10000.0, 0.6827, 0.02);
}

TEST(ParamLayoutDeathTest, RejectsBadSpecsAndRanges) {
  ParamLayout layout;
  EXPECT_DEATH(layout.Add({"w", {-1}, InitRule::kZeros, 0, 0}), "negative");
  EXPECT_DEATH(layout.Add({"w", {2}, InitRule::kHeNormal, 0, 2}), "fan_in");
  EXPECT_DEATH(layout.Add({"w", {2}, InitRule::kTorchDefault, 0, 2}), "fan_in");
  layout.Add({"w", {4}, InitRule::kZeros, 0, 0});
  float out[4];
  EXPECT_DEATH(layout.Initialize(1, 2, 5, out), "outside");
  EXPECT_DEATH(layout.InitialValue(1, 4), "outside");
}

}  // namespace
}  // namespace descent
