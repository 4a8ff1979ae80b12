// Per-layer gradient norms against a naive double-precision reference, and
// the band check the coordinator warns with.
#include "common/optim/gradient_norms.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

double NaiveNorm(const std::vector<float>& grad, int64_t begin, int64_t end) {
  double sum = 0;
  for (int64_t i = begin; i < end; ++i) {
    sum += static_cast<double>(grad[i]) * grad[i];
  }
  return std::sqrt(sum);
}

TEST(GradientNormsTest, EachTensorMatchesANaiveReference) {
  // Sizes around the 4096-float blocks, an empty tensor, and a large one.
  ParamLayout layout;
  const std::vector<int64_t> sizes = {1, 0, 4095, 4096, 4097, 300000, 7};
  for (size_t t = 0; t < sizes.size(); ++t) {
    layout.Add(TensorSpec{"t" + std::to_string(t), {sizes[t]}});
  }
  std::mt19937 random(5);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> grad(layout.size());
  // Scales differ by tensor, so a mixed-up offset shows.
  for (size_t t = 0; t < sizes.size(); ++t) {
    for (int64_t i = layout.offset(t); i < layout.offset(t) + sizes[t]; ++i) {
      grad[i] = normal(random) * std::pow(10.0f, static_cast<float>(t) - 3);
    }
  }
  std::vector<double> norms(sizes.size(), -1);
  TensorNorms(layout, grad.data(), norms.data());
  for (size_t t = 0; t < sizes.size(); ++t) {
    const double expected =
        NaiveNorm(grad, layout.offset(t), layout.offset(t) + sizes[t]);
    EXPECT_NEAR(norms[t], expected, 1e-6 * expected + 1e-12) << "tensor " << t;
  }
  EXPECT_NEAR(CombinedNorm(norms), NaiveNorm(grad, 0, layout.size()),
              1e-6 * NaiveNorm(grad, 0, layout.size()));
  EXPECT_EQ(norms[1], 0);  // the empty tensor
}

TEST(GradientNormsTest, NonFiniteValuesGiveNonFiniteNorms) {
  std::vector<float> values = {1, 2, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_TRUE(std::isnan(L2Norm(values.data(), 3)));
  values[2] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(std::isfinite(L2Norm(values.data(), 3)));
  EXPECT_DOUBLE_EQ(L2Norm(values.data(), 2), std::sqrt(5.0));
}

TEST(GradientNormsTest, BandFlagsNormsOutsideIt) {
  v1::GradientNormBand band;
  band.set_min(1e-6);
  band.set_max(100);
  EXPECT_EQ(OutsideNormBand(1, band), std::nullopt);
  EXPECT_EQ(OutsideNormBand(1e-6, band), std::nullopt);  // bounds are inside
  EXPECT_EQ(OutsideNormBand(100, band), std::nullopt);
  EXPECT_THAT(OutsideNormBand(1e-9, band).value_or(""),
              HasSubstr("below the band's min 1e-06: vanishing gradients"));
  EXPECT_THAT(OutsideNormBand(250, band).value_or(""),
              HasSubstr("above the band's max 100: exploding gradients"));
  EXPECT_THAT(OutsideNormBand(std::nan(""), band).value_or(""),
              HasSubstr("is not finite"));
  // A bound of 0 leaves its side open.
  band.set_min(0);
  EXPECT_EQ(OutsideNormBand(0, band), std::nullopt);
  band.set_max(0);
  EXPECT_EQ(OutsideNormBand(1e30, band), std::nullopt);
}

TEST(GradientNormsTest, WarningsNameEachLayerOutsideTheBand) {
  v1::Evaluation evaluation;
  evaluation.set_step(1200);
  for (const auto& [layer, norm] :
       std::vector<std::pair<std::string, double>>{{"dense0/weights", 3e-8},
                                                   {"dense0/bias", 0.5},
                                                   {"dense1/weights", 40}}) {
    v1::GradientNorm* entry = evaluation.add_gradient_norms();
    entry->set_layer(layer);
    entry->set_norm(norm);
  }
  v1::GradientNormBand band;
  band.set_min(1e-6);
  band.set_max(10);
  EXPECT_THAT(
      GradientNormWarnings(evaluation, band),
      ElementsAre("gradient norm of layer dense0/weights at step 1200: 3e-08 "
                  "is below the band's min 1e-06: vanishing gradients",
                  "gradient norm of layer dense1/weights at step 1200: 40 is "
                  "above the band's max 10: exploding gradients"));
  band.set_max(100);
  band.set_min(1e-9);
  EXPECT_TRUE(GradientNormWarnings(evaluation, band).empty());
}

}  // namespace
}  // namespace descent
