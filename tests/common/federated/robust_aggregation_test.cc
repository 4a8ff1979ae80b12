// Robust aggregation rules against hand-computed results and outliers;
// the attackers' set and their tampering; the config's defaults and
// errors.
#include "common/federated/robust_aggregation.h"

#include <cmath>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/federated/round_plan.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/federated/small_job.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> Aggregated(AggregationRule rule,
                              const std::vector<std::vector<float>>& updates,
                              double trim = 0.1, int byzantine = 0,
                              int select = 1) {
  RobustOptions o;
  o.rule = rule;
  o.trim_fraction = trim;
  o.byzantine = byzantine;
  o.multi_krum_select = select;
  std::vector<const float*> pointers;
  for (const auto& u : updates) pointers.push_back(u.data());
  std::vector<float> out(updates[0].size());
  Aggregate(o, pointers, static_cast<int64_t>(out.size()), out.data());
  return out;
}

TEST(AggregateTest, MedianIsCoordinateWise) {
  EXPECT_THAT(Aggregated(AggregationRule::kMedian, {{1, 9}, {5, 2}, {100, 3}}),
              ElementsAre(5, 3));
  // Even counts: the mean of the two middle values.
  EXPECT_THAT(
      Aggregated(AggregationRule::kMedian, {{1, 0}, {3, 0}, {10, 4}, {-7, 8}}),
      ElementsAre(2, 2));
  EXPECT_THAT(Aggregated(AggregationRule::kMedian, {{4, -1}}),
              ElementsAre(4, -1));
}

TEST(AggregateTest, TrimmedMeanDropsBothTails) {
  // 10 updates, beta 0.2: the 2 largest and 2 smallest go.
  std::vector<std::vector<float>> updates;
  for (int i = 0; i < 10; ++i) updates.push_back({static_cast<float>(i)});
  updates[9][0] = 1e6f;
  EXPECT_THAT(Aggregated(AggregationRule::kTrimmedMean, updates, 0.2),
              ElementsAre((2 + 3 + 4 + 5 + 6 + 7) / 6.0f));
  // beta 0 is the mean.
  EXPECT_NEAR(Aggregated(AggregationRule::kTrimmedMean, {{1}, {2}, {6}}, 0)[0],
              3, 1e-6);
}

TEST(AggregateTest, KrumPicksAnInlierAndMultiKrumAveragesInliers) {
  // Five updates near (1, 1) and two far away; f = 2.
  const std::vector<std::vector<float>> updates = {
      {1.0f, 1.1f}, {0.9f, 1.0f}, {50, -50},    {1.1f, 0.9f},
      {1.0f, 1.0f}, {-60, 40},    {1.05f, 1.0f}};
  const std::vector<float> krum =
      Aggregated(AggregationRule::kKrum, updates, 0, 2);
  EXPECT_NEAR(krum[0], 1.0, 0.15);
  EXPECT_NEAR(krum[1], 1.0, 0.15);
  const std::vector<float> multi =
      Aggregated(AggregationRule::kMultiKrum, updates, 0, 2, 5);
  EXPECT_NEAR(multi[0], (1.0 + 0.9 + 1.1 + 1.0 + 1.05) / 5, 1e-5);
  EXPECT_NEAR(multi[1], (1.1 + 1.0 + 0.9 + 1.0 + 1.0) / 5, 1e-5);
  // The mean is dragged away by the two.
  EXPECT_GT(std::abs(Aggregated(AggregationRule::kMean, updates)[0] - 1), 1);
  // Scores: the sum over the n - f - 2 = 3 nearest.
  std::vector<const float*> pointers;
  for (const auto& u : updates) pointers.push_back(u.data());
  const std::vector<double> scores = KrumScores(pointers, 2, 3);
  EXPECT_GT(scores[2], 100 * scores[0]);
  // Too few updates for f: clamped, still a choice.
  EXPECT_THAT(Aggregated(AggregationRule::kKrum, {{3, 4}}, 0, 2),
              ElementsAre(3, 4));
  EXPECT_EQ(Aggregated(AggregationRule::kKrum, {{3, 4}, {5, 6}}, 0, 2).size(),
            2u);
}

TEST(AttackTest, AttackersAreASeededExactFraction) {
  AttackOptions a;
  a.kind = AttackKind::kSignFlip;
  a.fraction = 0.3;
  const std::vector<bool> set = Attackers(a, 100, 5);
  EXPECT_EQ(std::count(set.begin(), set.end(), true), 30);
  EXPECT_EQ(Attackers(a, 100, 5), set);
  EXPECT_NE(Attackers(a, 100, 6), set);
  a.kind = AttackKind::kNone;
  const std::vector<bool> none = Attackers(a, 100, 5);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
}

TEST(AttackTest, TamperingReplacesTheReport) {
  AttackOptions a;
  a.kind = AttackKind::kSignFlip;
  a.scale = 2;
  std::vector<float> delta = {1, -3};
  Tamper(a, 1, 0, 0, absl::MakeSpan(delta));
  EXPECT_THAT(delta, ElementsAre(-2, 6));
  a.kind = AttackKind::kScale;
  a.scale = 10;
  Tamper(a, 1, 0, 0, absl::MakeSpan(delta));
  EXPECT_THAT(delta, ElementsAre(-20, 60));
  a.kind = AttackKind::kGaussian;
  a.scale = 3;
  std::vector<float> noise(50000, 7.0f), again(50000, 0.0f);
  Tamper(a, 1, 4, 2, absl::MakeSpan(noise));
  Tamper(a, 1, 4, 2, absl::MakeSpan(again));
  EXPECT_EQ(noise, again);  // seeded by the round and the client
  double sum = 0;
  for (float x : noise) sum += static_cast<double>(x) * x;
  EXPECT_NEAR(std::sqrt(sum / noise.size()), 3, 0.05);  // 7 is gone
  a.kind = AttackKind::kLabelFlip;
  std::vector<float> kept = {1, 2};
  Tamper(a, 1, 0, 0, absl::MakeSpan(kept));
  EXPECT_THAT(kept, ElementsAre(1, 2));
}

absl::StatusOr<v1::JobConfig> Job(const std::vector<std::string>& overrides) {
  return SmallFederatedJob(overrides);
}

TEST(RobustConfigTest, DefaultsFollowTheClientsPerRound) {
  const FederatedOptions o =
      FederatedOptionsOf(*Job({"federated.aggregation.rule=KRUM"}));
  EXPECT_EQ(o.robust.rule, AggregationRule::kKrum);
  EXPECT_TRUE(o.robust.per_client());
  EXPECT_EQ(o.robust.byzantine, 3);  // 2 f + 2 < 10
  EXPECT_EQ(o.robust.multi_krum_select, 7);
  EXPECT_DOUBLE_EQ(o.robust.trim_fraction, 0.1);
  EXPECT_FALSE(FederatedOptionsOf(*Job({})).robust.per_client());
  EXPECT_DOUBLE_EQ(
      FederatedOptionsOf(*Job({"federated.attack.kind=SCALE"})).attack.scale,
      10);
  EXPECT_DOUBLE_EQ(
      FederatedOptionsOf(*Job({"federated.attack.kind=GAUSSIAN"})).attack.scale,
      1);
}

TEST(RobustConfigTest, BadSettingsNameTheirField) {
  struct Case {
    std::vector<std::string> overrides;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"federated.aggregation.rule=KRUM", "cluster.num_servers=2"},
       "federated.aggregation.rule: Krum compares whole updates"},
      {{"federated.aggregation.byzantine=4"},
       "federated.aggregation.byzantine: must be in [0, 3]"},
      {{"federated.aggregation.trim_fraction=0.5"},
       "federated.aggregation.trim_fraction"},
      {{"federated.aggregation.multi_krum_select=11"},
       "federated.aggregation.multi_krum_select"},
      {{"federated.attack.fraction=1"}, "federated.attack.fraction"},
      {{"federated.attack.scale=0"}, "federated.attack.scale"},
      {{"federated.aggregation.rule=MEDIAN", "privacy.clip_norm=1"},
       "use rule MEAN"},
      {{"federated.aggregation.rule=MEDIAN",
        "train.communication.encoding=BFLOAT16"},
       "leave train.communication unset"},
  };
  for (const Case& c : cases) {
    const absl::StatusOr<v1::JobConfig> config = Job(c.overrides);
    ASSERT_FALSE(config.ok()) << c.expected;
    EXPECT_THAT(config.status().message(), HasSubstr(c.expected));
  }
}

}  // namespace
}  // namespace descent
