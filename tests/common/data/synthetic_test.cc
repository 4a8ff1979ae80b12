#include "common/data/synthetic.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::Each;
using ::testing::Eq;

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// Mean and (population) standard deviation.
std::pair<double, double> Moments(const std::vector<double>& values) {
  double sum = 0, sum_squares = 0;
  for (double v : values) {
    sum += v;
    sum_squares += v * v;
  }
  const double mean = sum / values.size();
  return {mean, std::sqrt(sum_squares / values.size() - mean * mean)};
}

// The design matrix [X 1] of a dense data set, in double precision.
Eigen::MatrixXd DesignMatrix(const Dataset& data) {
  Eigen::MatrixXd x(data.num_examples, data.num_features + 1);
  for (int64_t i = 0; i < data.num_examples; ++i) {
    for (int64_t j = 0; j < data.num_features; ++j) {
      x(i, j) = data.example(i)[j];
    }
    x(i, data.num_features) = 1.0;
  }
  return x;
}

// Planted weights then bias, as one vector to compare with a fit.
Eigen::VectorXd Planted(const PlantedLinear& planted) {
  Eigen::VectorXd theta(planted.weights.size() + 1);
  for (size_t j = 0; j < planted.weights.size(); ++j) {
    theta(j) = planted.weights[j];
  }
  theta(planted.weights.size()) = planted.bias;
  return theta;
}

TEST(MakeLinearRegression, IsDeterministicPerSeed) {
  const PlantedLinear a = MakeLinearRegression(50, 4, 0.1f, 7);
  const PlantedLinear b = MakeLinearRegression(50, 4, 0.1f, 7);
  const PlantedLinear c = MakeLinearRegression(50, 4, 0.1f, 8);
  EXPECT_EQ(a.data.features, b.data.features);
  EXPECT_EQ(a.data.targets, b.data.targets);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.bias, b.bias);
  EXPECT_NE(a.data.features, c.data.features);
  EXPECT_NE(a.weights, c.weights);
}

TEST(MakeLinearRegression, HasRegressionShape) {
  const PlantedLinear planted = MakeLinearRegression(30, 5, 0.0f, 1);
  EXPECT_EQ(planted.data.num_examples, 30);
  EXPECT_EQ(planted.data.num_features, 5);
  EXPECT_EQ(planted.data.num_classes, 0);
  EXPECT_EQ(planted.data.features.size(), 150u);
  EXPECT_EQ(planted.data.targets.size(), 30u);
  EXPECT_TRUE(planted.data.labels.empty());
  EXPECT_EQ(planted.weights.size(), 5u);
}

TEST(MakeLinearRegression, LeastSquaresRecoversPlantedModel) {
  constexpr float kNoise = 0.1f;
  const PlantedLinear planted = MakeLinearRegression(4000, 10, kNoise, 42);
  const Eigen::MatrixXd x = DesignMatrix(planted.data);
  const Eigen::VectorXd y =
      Eigen::Map<const Eigen::VectorXf>(planted.data.targets.data(),
                                        planted.data.num_examples)
          .cast<double>();
  const Eigen::VectorXd fit = x.colPivHouseholderQr().solve(y);
  const Eigen::VectorXd truth = Planted(planted);
  EXPECT_LT((fit - truth).norm(), 0.02 * truth.norm())
      << "fit " << fit.transpose() << "\ntruth " << truth.transpose();
  const Eigen::VectorXd residual = y - x * fit;
  const double residual_std = std::sqrt(residual.squaredNorm() / y.size());
  EXPECT_NEAR(residual_std, kNoise, 0.05 * kNoise);
}

TEST(MakeLinearRegression, WithoutNoiseTargetsAreExact) {
  const PlantedLinear planted = MakeLinearRegression(20, 3, 0.0f, 3);
  for (int64_t i = 0; i < 20; ++i) {
    double score = planted.bias;
    for (int j = 0; j < 3; ++j) {
      score += planted.data.example(i)[j] * planted.weights[j];
    }
    EXPECT_NEAR(planted.data.targets[i], score, 1e-5) << "example " << i;
  }
}

// Logistic regression by Newton's method (IRLS), the maximum-likelihood fit.
Eigen::VectorXd FitLogistic(const Eigen::MatrixXd& x,
                            const Eigen::VectorXd& y) {
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(x.cols());
  for (int iteration = 0; iteration < 25; ++iteration) {
    const Eigen::VectorXd p =
        (x * theta).unaryExpr([](double z) { return Sigmoid(z); });
    const Eigen::VectorXd w = p.array() * (1.0 - p.array());
    const Eigen::MatrixXd hessian = x.transpose() * w.asDiagonal() * x;
    theta += hessian.ldlt().solve(x.transpose() * (y - p));
  }
  return theta;
}

TEST(MakeLogistic, IsDeterministicPerSeed) {
  const PlantedLinear a = MakeLogistic(200, 3, 5);
  const PlantedLinear b = MakeLogistic(200, 3, 5);
  const PlantedLinear c = MakeLogistic(200, 3, 6);
  EXPECT_EQ(a.data.features, b.data.features);
  EXPECT_EQ(a.data.labels, b.data.labels);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_NE(a.data.labels, c.data.labels);
}

TEST(MakeLogistic, MaximumLikelihoodRecoversPlantedModel) {
  const PlantedLinear planted = MakeLogistic(20000, 5, 11);
  EXPECT_EQ(planted.data.num_classes, 2);
  EXPECT_TRUE(planted.data.targets.empty());
  ASSERT_EQ(planted.data.labels.size(), 20000u);
  Eigen::VectorXd y(planted.data.num_examples);
  for (int64_t i = 0; i < y.size(); ++i) {
    ASSERT_TRUE(planted.data.labels[i] == 0 || planted.data.labels[i] == 1);
    y(i) = planted.data.labels[i];
  }
  const Eigen::VectorXd fit = FitLogistic(DesignMatrix(planted.data), y);
  const Eigen::VectorXd truth = Planted(planted);
  EXPECT_LT((fit - truth).norm(), 0.1 * truth.norm())
      << "fit " << fit.transpose() << "\ntruth " << truth.transpose();
}

TEST(MakeCtr, IsDeterministicPerSeed) {
  const SyntheticCtr a = MakeCtr(100, 1000, 5, 4, 9);
  const SyntheticCtr b = MakeCtr(100, 1000, 5, 4, 9);
  const SyntheticCtr c = MakeCtr(100, 1000, 5, 4, 10);
  EXPECT_EQ(a.data.indices, b.data.indices);
  EXPECT_EQ(a.data.labels, b.data.labels);
  EXPECT_EQ(a.factors, b.factors);
  EXPECT_NE(a.data.indices, c.data.indices);
}

TEST(MakeCtr, RowsHoldDistinctSortedBinaryFeatures) {
  const SyntheticCtr ctr = MakeCtr(500, 200, 8, 4, 1);
  const SparseDataset& data = ctr.data;
  EXPECT_EQ(data.num_examples, 500);
  EXPECT_EQ(data.num_features, 200);
  EXPECT_EQ(data.num_classes, 2);
  ASSERT_EQ(data.row_offsets.size(), 501u);
  EXPECT_EQ(data.indices.size(), 500u * 8);
  EXPECT_THAT(data.values, Each(Eq(1.0f)));
  EXPECT_EQ(ctr.linear.size(), 200u);
  EXPECT_EQ(ctr.factors.size(), 200u * 4);
  for (int64_t i = 0; i < data.num_examples; ++i) {
    ASSERT_EQ(data.row_size(i), 8);
    const auto begin = data.indices.begin() + data.row_offsets[i];
    const auto end = data.indices.begin() + data.row_offsets[i + 1];
    EXPECT_TRUE(std::adjacent_find(begin, end, std::greater_equal<>()) == end)
        << "row " << i << " not strictly increasing";
    EXPECT_GE(*begin, 0);
    EXPECT_LT(*(end - 1), 200);
  }
}

TEST(MakeCtr, FeatureIdsFollowAPowerLaw) {
  constexpr int64_t kFeatures = 10000;
  const SyntheticCtr ctr = MakeCtr(5000, kFeatures, 10, 2, 3);
  std::vector<int64_t> counts(kFeatures, 0);
  for (int64_t id : ctr.data.indices) ++counts[id];
  std::sort(counts.begin(), counts.end(), std::greater<>());
  int64_t top = 0;
  for (int64_t r = 0; r < kFeatures / 100; ++r) top += counts[r];
  EXPECT_GT(top, 0.2 * ctr.data.indices.size());
  // Rank 10 is drawn about 10^1.1 (~12.6) times as often as rank 100 (a bit
  // less: the head saturates, as an id appears at most once per row).
  EXPECT_GT(counts[9], 8 * counts[99]);
  EXPECT_LT(counts[9], 17 * counts[99]);
  // Popular ids are scattered, not the smallest ones.
  std::vector<int64_t> by_id(kFeatures, 0);
  for (int64_t id : ctr.data.indices) ++by_id[id];
  const int64_t hottest =
      std::max_element(by_id.begin(), by_id.end()) - by_id.begin();
  EXPECT_NE(hottest, 0);
}

// The FM score straight from its definition, over all pairs.
double NaiveFmScore(const SyntheticCtr& ctr, int64_t i) {
  const SparseDataset& data = ctr.data;
  double score = ctr.bias;
  for (int64_t a = data.row_offsets[i]; a < data.row_offsets[i + 1]; ++a) {
    score += ctr.linear[data.indices[a]] * data.values[a];
    for (int64_t b = a + 1; b < data.row_offsets[i + 1]; ++b) {
      double dot = 0;
      for (int f = 0; f < ctr.dim; ++f) {
        dot += double{ctr.factors[data.indices[a] * ctr.dim + f]} *
               ctr.factors[data.indices[b] * ctr.dim + f];
      }
      score += dot * data.values[a] * data.values[b];
    }
  }
  return score;
}

TEST(MakeCtr, LabelsFollowThePlantedFactorizationMachine) {
  const SyntheticCtr ctr = MakeCtr(20000, 2000, 12, 8, 4);
  double expected_positives = 0, positives = 0;
  std::vector<double> scores;
  double positive_score = 0, negative_score = 0;
  for (int64_t i = 0; i < ctr.data.num_examples; ++i) {
    const double score = CtrScore(ctr, i);
    if (i < 100) {
      ASSERT_NEAR(score, NaiveFmScore(ctr, i), 1e-4);
    }
    scores.push_back(score);
    expected_positives += Sigmoid(score);
    positives += ctr.data.labels[i];
    (ctr.data.labels[i] == 1 ? positive_score : negative_score) += score;
  }
  // Binomial count: within 4 standard deviations (~4 * sqrt(n / 4)).
  EXPECT_NEAR(positives, expected_positives, 4 * std::sqrt(20000 / 4.0));
  EXPECT_GT(positive_score / positives,
            negative_score / (ctr.data.num_examples - positives) + 0.5);
  const double stddev = Moments(scores).second;
  EXPECT_GT(stddev, 0.7);  // informative, not saturated
  EXPECT_LT(stddev, 2.0);
  EXPECT_GT(positives, 0.05 * ctr.data.num_examples);
  EXPECT_LT(positives, 0.95 * ctr.data.num_examples);
}

TEST(MakeLowRankRatings, IsDeterministicPerSeed) {
  const SyntheticRatings a = MakeLowRankRatings(30, 40, 3, 200, 0.1f, 2);
  const SyntheticRatings b = MakeLowRankRatings(30, 40, 3, 200, 0.1f, 2);
  const SyntheticRatings c = MakeLowRankRatings(30, 40, 3, 200, 0.1f, 3);
  EXPECT_EQ(a.triples.users, b.triples.users);
  EXPECT_EQ(a.triples.items, b.triples.items);
  EXPECT_EQ(a.triples.ratings, b.triples.ratings);
  EXPECT_NE(a.triples.ratings, c.triples.ratings);
}

TEST(MakeLowRankRatings, DrawsDistinctPairsInRange) {
  const SyntheticRatings r = MakeLowRankRatings(10, 20, 2, 200, 0.0f, 5);
  EXPECT_EQ(r.num_users, 10);
  EXPECT_EQ(r.num_items, 20);
  EXPECT_EQ(r.rank, 2);
  ASSERT_EQ(r.triples.size(), 200);  // every cell of the 10 x 20 matrix
  EXPECT_EQ(r.user_factors.size(), 20u);
  EXPECT_EQ(r.item_factors.size(), 40u);
  std::set<std::pair<uint64_t, uint64_t>> pairs;
  for (int64_t k = 0; k < r.triples.size(); ++k) {
    EXPECT_LT(r.triples.users[k], 10u);
    EXPECT_LT(r.triples.items[k], 20u);
    pairs.emplace(r.triples.users[k], r.triples.items[k]);
    EXPECT_NEAR(r.triples.ratings[k],
                PlantedRating(r, r.triples.users[k], r.triples.items[k]), 1e-6);
  }
  EXPECT_EQ(pairs.size(), 200u);
}

TEST(MakeLowRankRatings, NoiseAndSignalHaveTheDocumentedSpread) {
  constexpr float kNoise = 0.3f;
  const SyntheticRatings r =
      MakeLowRankRatings(2000, 1000, 8, 40000, kNoise, 6);
  std::vector<double> noise, signal;
  for (int64_t k = 0; k < r.triples.size(); ++k) {
    const double planted =
        PlantedRating(r, r.triples.users[k], r.triples.items[k]);
    signal.push_back(planted);
    noise.push_back(r.triples.ratings[k] - planted);
  }
  const auto [noise_mean, noise_std] = Moments(noise);
  EXPECT_NEAR(noise_mean, 0.0, 0.01);
  EXPECT_NEAR(noise_std, kNoise, 0.03 * kNoise);
  const auto [signal_mean, signal_std] = Moments(signal);
  EXPECT_NEAR(signal_mean, 0.0, 0.1);
  EXPECT_NEAR(signal_std, 1.0, 0.15);  // unit variance for any rank
}

}  // namespace
}  // namespace descent
