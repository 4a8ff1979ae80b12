#include "common/data/scaling.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::FloatNear;
using ::testing::Pointwise;

Dataset MakeDense(int64_t n, int64_t d, std::vector<float> features) {
  Dataset data;
  data.num_examples = n;
  data.num_features = d;
  data.features = std::move(features);
  return data;
}

// Feature j of every example, in order.
std::vector<float> Column(const Dataset& data, int64_t j) {
  std::vector<float> column;
  for (int64_t i = 0; i < data.num_examples; ++i) {
    column.push_back(data.example(i)[j]);
  }
  return column;
}

// Train: column 0 is {1, 2, 3, 6} (mean 3, population std sqrt(3.5)),
// column 1 the constant 5.
Dataset Train() { return MakeDense(4, 2, {1, 5, 2, 5, 3, 5, 6, 5}); }

TEST(FeatureScaler, StandardizeFitsMeanAndStdOfTrain) {
  const FeatureScaler scaler =
      FeatureScaler::Fit(Train(), ScalingMode::kStandardize);
  EXPECT_THAT(scaler.offset(), Pointwise(FloatEq(), {3.f, 5.f}));
  EXPECT_THAT(scaler.scale(),
              Pointwise(FloatEq(), {static_cast<float>(std::sqrt(3.5)), 1.f}));
  Dataset train = Train();
  scaler.Apply(&train);
  const float s = std::sqrt(3.5f);
  EXPECT_THAT(Column(train, 0),
              Pointwise(FloatEq(), {-2 / s, -1 / s, 0.f, 3 / s}));
  EXPECT_THAT(Column(train, 1), Each(FloatEq(0.f)));  // constant -> 0
}

TEST(FeatureScaler, MinMaxMapsTrainOntoUnitInterval) {
  const FeatureScaler scaler =
      FeatureScaler::Fit(Train(), ScalingMode::kMinMax);
  EXPECT_THAT(scaler.offset(), Pointwise(FloatEq(), {1.f, 5.f}));
  EXPECT_THAT(scaler.scale(), Pointwise(FloatEq(), {5.f, 1.f}));
  Dataset train = Train();
  scaler.Apply(&train);
  EXPECT_THAT(Column(train, 0), Pointwise(FloatEq(), {0.f, 0.2f, 0.4f, 1.f}));
  EXPECT_THAT(Column(train, 1), Each(FloatEq(0.f)));  // range 0 -> 0
}

TEST(FeatureScaler, AppliesTrainStatisticsToOtherSplits) {
  Dataset test = MakeDense(2, 2, {11, 7, -4, 5});
  test.labels = {1, 0};
  const Dataset test_before = test;
  for (ScalingMode mode : {ScalingMode::kStandardize, ScalingMode::kMinMax}) {
    const FeatureScaler scaler = FeatureScaler::Fit(Train(), mode);
    Dataset scaled = test_before;
    scaler.Apply(&scaled);
    const float o = scaler.offset()[0], s = scaler.scale()[0];
    EXPECT_THAT(Column(scaled, 0),
                Pointwise(FloatEq(), {(11 - o) / s, (-4 - o) / s}));
    // The feature constant in train shifts, unscaled, elsewhere.
    EXPECT_THAT(Column(scaled, 1), Pointwise(FloatEq(), {2.f, 0.f}));
    EXPECT_EQ(scaled.labels, test_before.labels);
  }
  const FeatureScaler min_max =
      FeatureScaler::Fit(Train(), ScalingMode::kMinMax);
  Dataset scaled = test_before;
  min_max.Apply(&scaled);
  EXPECT_FLOAT_EQ(scaled.example(0)[0], 2.0f);  // (11 - 1) / 5: beyond [0, 1]
  EXPECT_FLOAT_EQ(scaled.example(1)[0], -1.0f);
}

TEST(FeatureScaler, StandardizedTrainColumnsHaveMeanZeroAndStdOne) {
  constexpr int64_t kN = 5000, kD = 6;
  std::mt19937_64 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Dataset train = MakeDense(kN, kD, std::vector<float>(kN * kD));
  for (int64_t i = 0; i < kN; ++i) {
    for (int64_t j = 0; j < kD; ++j) {
      train.features[i * kD + j] = 1000.0f * j + (j + 0.5f) * normal(rng);
    }
  }
  train.targets.assign(kN, 3.5f);
  FeatureScaler::Fit(train, ScalingMode::kStandardize).Apply(&train);
  for (int64_t j = 0; j < kD; ++j) {
    double sum = 0, sum_squares = 0;
    for (float x : Column(train, j)) {
      sum += x;
      sum_squares += double{x} * x;
    }
    EXPECT_NEAR(sum / kN, 0.0, 1e-4) << "feature " << j;
    EXPECT_NEAR(std::sqrt(sum_squares / kN), 1.0, 1e-4) << "feature " << j;
  }
  EXPECT_THAT(train.targets, Each(FloatEq(3.5f)));
}

TEST(FeatureScaler, EmptyTrainGivesIdentity) {
  const FeatureScaler scaler =
      FeatureScaler::Fit(MakeDense(0, 3, {}), ScalingMode::kStandardize);
  EXPECT_THAT(scaler.offset(), ElementsAre(0.f, 0.f, 0.f));
  EXPECT_THAT(scaler.scale(), ElementsAre(1.f, 1.f, 1.f));
}

TEST(FeatureScalerDeathTest, ApplyToOtherWidthFails) {
  const FeatureScaler scaler =
      FeatureScaler::Fit(Train(), ScalingMode::kMinMax);
  Dataset wide = MakeDense(1, 3, {1, 2, 3});
  EXPECT_DEATH(scaler.Apply(&wide), "fitted on 2 features");
}

}  // namespace
}  // namespace descent
