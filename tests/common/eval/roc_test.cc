#include "common/eval/roc.h"

#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace descent {
namespace {

double Auc(const std::vector<float>& scores,
           const std::vector<int32_t>& labels) {
  return AreaUnderRoc(scores.data(), labels.data(),
                      static_cast<int64_t>(scores.size()));
}

// The definition, pair by pair: positives above negatives count 1, ties 1/2.
double BruteForceAuc(const std::vector<float>& scores,
                     const std::vector<int32_t>& labels) {
  double wins = 0;
  int64_t pairs = 0;
  for (size_t p = 0; p < scores.size(); ++p) {
    if (labels[p] == 0) continue;
    for (size_t q = 0; q < scores.size(); ++q) {
      if (labels[q] != 0) continue;
      ++pairs;
      if (scores[p] > scores[q]) wins += 1;
      if (scores[p] == scores[q]) wins += 0.5;
    }
  }
  return pairs == 0 ? 0.5 : wins / pairs;
}

TEST(AreaUnderRoc, PerfectRankingIsOne) {
  EXPECT_DOUBLE_EQ(Auc({0.1f, 0.2f, 0.7f, 0.9f}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(Auc({5, -1, 3, -2, 4}, {1, 0, 1, 0, 1}), 1.0);
}

TEST(AreaUnderRoc, ReversedRankingIsZero) {
  EXPECT_DOUBLE_EQ(Auc({0.1f, 0.2f, 0.7f, 0.9f}, {1, 1, 0, 0}), 0.0);
}

TEST(AreaUnderRoc, AllTiesIsOneHalf) {
  EXPECT_DOUBLE_EQ(Auc({0.3f, 0.3f, 0.3f, 0.3f, 0.3f}, {1, 0, 0, 1, 1}), 0.5);
}

TEST(AreaUnderRoc, OneClassOnlyIsOneHalf) {
  EXPECT_DOUBLE_EQ(Auc({0.1f, 0.9f, 0.4f}, {1, 1, 1}), 0.5);
  EXPECT_DOUBLE_EQ(Auc({0.1f, 0.9f, 0.4f}, {0, 0, 0}), 0.5);
  EXPECT_DOUBLE_EQ(AreaUnderRoc(nullptr, nullptr, 0), 0.5);
}

TEST(AreaUnderRoc, HandComputedCases) {
  // Positive 0.35 beats 0.1 only; 0.8 beats both negatives: 3 of 4 pairs.
  EXPECT_DOUBLE_EQ(Auc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
  // Positives 0.5, 0.9; negatives 0.5, 0.2: 0.5 + 1 + 1 + 1 of 4 pairs.
  EXPECT_DOUBLE_EQ(Auc({0.5f, 0.5f, 0.2f, 0.9f}, {1, 0, 0, 1}), 0.875);
  // Labels other than 0 count as positives.
  EXPECT_DOUBLE_EQ(Auc({0.5f, 0.5f, 0.2f, 0.9f}, {2, 0, 0, 7}), 0.875);
}

TEST(AreaUnderRoc, MatchesPairCountOnRandomDataWithTies) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> level(0, 6);  // few levels: many ties
    std::bernoulli_distribution positive(0.3 + 0.08 * seed);
    const int n = 150 + 37 * static_cast<int>(seed);
    std::vector<float> scores(n);
    std::vector<int32_t> labels(n);
    for (int i = 0; i < n; ++i) {
      labels[i] = positive(rng) ? 1 : 0;
      // Scores lean towards the label so the AUC is away from 1/2.
      scores[i] = 0.25f * static_cast<float>(level(rng) + 2 * labels[i]);
    }
    EXPECT_NEAR(Auc(scores, labels), BruteForceAuc(scores, labels), 1e-12);
  }
}

}  // namespace
}  // namespace descent
