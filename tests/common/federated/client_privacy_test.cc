// Client-level DP for federated rounds: clipping, seeded noise, adaptive
// clipping's step, what rounds spend, the budget that lowers
// federated.rounds, and the privacy section's defaults and errors.
#include "common/federated/client_privacy.h"

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/federated/round_plan.h"
#include "common/privacy/rdp_accountant.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/federated/small_job.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

double Norm(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  return std::sqrt(sum);
}

TEST(ClipToNormTest, ScalesALongVectorToTheNormAndLeavesAShortOne) {
  std::vector<float> v = {3, 4};  // norm 5
  EXPECT_DOUBLE_EQ(ClipToNorm(1.0f, absl::MakeSpan(v)), 5.0);
  EXPECT_NEAR(Norm(v), 1.0, 1e-6);
  EXPECT_NEAR(v[0] / v[1], 0.75, 1e-6);  // the direction stays
  std::vector<float> short_one = {0.3f, 0.4f};
  EXPECT_NEAR(ClipToNorm(1.0f, absl::MakeSpan(short_one)), 0.5, 1e-6);
  EXPECT_EQ(short_one, (std::vector<float>{0.3f, 0.4f}));
}

TEST(GaussianNoiseTest, IsSeededAndHasTheStandardDeviationAsked) {
  std::vector<float> a(100000, 0.0f), b(100000, 0.0f), c(100000, 0.0f);
  AddGaussianNoise(7, 2.5, absl::MakeSpan(a));
  AddGaussianNoise(7, 2.5, absl::MakeSpan(b));
  AddGaussianNoise(8, 2.5, absl::MakeSpan(c));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const double mean = std::accumulate(a.begin(), a.end(), 0.0) / a.size();
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(Norm(a) / std::sqrt(static_cast<double>(a.size())), 2.5, 0.03);
  std::vector<float> none(10, 1.0f);
  AddGaussianNoise(7, 0, absl::MakeSpan(none));
  EXPECT_EQ(none, std::vector<float>(10, 1.0f));
}

TEST(NoiseSeedTest, DifferPerRoundClientAndSlice) {
  PrivacyOptions p;
  p.noise_seed = 3;
  EXPECT_NE(ClientNoiseSeed(p, 0, 1), ClientNoiseSeed(p, 1, 1));
  EXPECT_NE(ClientNoiseSeed(p, 0, 1), ClientNoiseSeed(p, 0, 2));
  EXPECT_NE(ShardNoiseSeed(p, 0, 0), ShardNoiseSeed(p, 0, 100));
  EXPECT_NE(ShardNoiseSeed(p, 0, 0), ShardNoiseSeed(p, 1, 0));
  PrivacyOptions q = p;
  q.noise_seed = 4;
  EXPECT_NE(ShardNoiseSeed(p, 0, 0), ShardNoiseSeed(q, 0, 0));
  EXPECT_EQ(ShardNoiseSeed(p, 5, 9), ShardNoiseSeed(p, 5, 9));
}

TEST(AdaptiveClippingTest, NormFollowsTheTargetQuantileGeometrically) {
  PrivacyOptions p;
  p.enabled = true;
  p.target_quantile = 0.5;
  p.clip_learning_rate = 0.2;
  p.count_stddev = 1e-9;  // no noise to speak of
  // Every client within the norm: it shrinks by exp(-0.2 (1 - 0.5)).
  EXPECT_NEAR(NextClipNorm(p, 2.0f, 10, 10, 0), 2.0 * std::exp(-0.1), 1e-5);
  // None within: it grows by exp(0.1).
  EXPECT_NEAR(NextClipNorm(p, 2.0f, 0, 10, 0), 2.0 * std::exp(0.1), 1e-5);
  // Exactly the quantile: it stays.
  EXPECT_NEAR(NextClipNorm(p, 2.0f, 5, 10, 0), 2.0, 1e-5);
  // The count's noise is seeded by the round: the same on every shard.
  p.count_stddev = 1;
  EXPECT_EQ(NextClipNorm(p, 2.0f, 5, 10, 3), NextClipNorm(p, 2.0f, 5, 10, 3));
  EXPECT_NE(NextClipNorm(p, 2.0f, 5, 10, 3), NextClipNorm(p, 2.0f, 5, 10, 4));
}

TEST(AdaptiveClippingTest, TheCountTakesItsShareOfTheNoise) {
  PrivacyOptions p;
  p.noise_multiplier = 1;
  EXPECT_DOUBLE_EQ(DeltaNoiseMultiplier(p), 1);
  p.target_quantile = 0.5;
  p.count_stddev = 1;  // 2 sigma_b = 2
  // z^-2 = z_delta^-2 + (2 sigma_b)^-2.
  EXPECT_NEAR(DeltaNoiseMultiplier(p), 1 / std::sqrt(1 - 0.25), 1e-12);
  p.noise_multiplier = 0;
  EXPECT_EQ(DeltaNoiseMultiplier(p), 0);
}

absl::StatusOr<v1::JobConfig> Job(const std::vector<std::string>& overrides) {
  std::vector<std::string> all = {"federated.rounds=1000"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  return SmallFederatedJob(all);
}

TEST(PrivacyConfigTest, DefaultsAreStated) {
  const v1::JobConfig config = *Job({"privacy.clip_norm=1"});
  const PrivacyOptions p = PrivacyOptionsOf(config);
  EXPECT_TRUE(p.enabled);
  EXPECT_FALSE(p.local);
  EXPECT_FALSE(p.adaptive());
  EXPECT_NEAR(p.delta, 1 / std::pow(100.0, 1.1), 1e-15);
  EXPECT_EQ(p.noise_seed, config.federated().seed());
  EXPECT_DOUBLE_EQ(p.sampling_rate, 0.1);
  EXPECT_EQ(config.federated().rounds(), 1000);  // no budget, no limit
  EXPECT_TRUE(FederatedOptionsOf(config).privacy.enabled);
  EXPECT_FALSE(PrivacyOptionsOf(*Job({})).enabled);

  const PrivacyOptions a = PrivacyOptionsOf(
      *Job({"privacy.clip_norm=1", "privacy.noise_multiplier=0.5",
            "privacy.adaptive_clipping.target_quantile=0.5"}));
  EXPECT_TRUE(a.adaptive());
  EXPECT_DOUBLE_EQ(a.clip_learning_rate, 0.2);
  EXPECT_DOUBLE_EQ(a.count_stddev, 10.0 / 20);  // m / 20
  // Over-selection samples more clients a round: a larger rate.
  EXPECT_DOUBLE_EQ(PrivacyOptionsOf(*Job({"privacy.clip_norm=1",
                                          "federated.over_selection=0.3"}))
                       .sampling_rate,
                   0.13);
}

TEST(PrivacyConfigTest, CentralRoundsComposeTheSampledGaussian) {
  const v1::JobConfig config =
      *Job({"privacy.clip_norm=1", "privacy.noise_multiplier=1.1"});
  const PrivacyOptions p = PrivacyOptionsOf(config);
  const std::vector<double> orders = DefaultRdpOrders();
  const std::vector<double> rdp = ComputeRdp(0.1, 1.1, 50, orders);
  const Epsilon spent = SpentAfter(p, 50);
  EXPECT_DOUBLE_EQ(spent.classic, EpsilonClassic(orders, rdp, p.delta).epsilon);
  EXPECT_DOUBLE_EQ(spent.tight, EpsilonTight(orders, rdp, p.delta).epsilon);
  EXPECT_LT(spent.tight, spent.classic);
  EXPECT_LT(SpentAfter(p, 49).classic, spent.classic);
  EXPECT_EQ(SpentAfter(p, 0).classic, 0);
  // LOCAL: a report is the Gaussian mechanism itself (q = 1), with no
  // amplification by sampling, so it costs more than a central round.
  PrivacyOptions local = p;
  local.local = true;
  EXPECT_DOUBLE_EQ(
      SpentAfter(local, 3).classic,
      EpsilonClassic(orders, ComputeRdp(1.0, 1.1, 3, orders), p.delta).epsilon);
  EXPECT_GT(SpentAfter(local, 1).classic, SpentAfter(p, 1).classic);
  // No noise: nothing is private.
  PrivacyOptions clip_only = p;
  clip_only.noise_multiplier = 0;
  EXPECT_TRUE(std::isinf(SpentAfter(clip_only, 1).classic));
}

TEST(PrivacyConfigTest, TargetEpsilonLowersTheRoundsToTheBudget) {
  const std::vector<std::string> overrides = {"privacy.clip_norm=1",
                                              "privacy.noise_multiplier=1",
                                              "privacy.target_epsilon=4"};
  const v1::JobConfig config = *Job(overrides);
  const PrivacyOptions p = PrivacyOptionsOf(config);
  const int64_t rounds = config.federated().rounds();
  ASSERT_LT(rounds, 1000);
  ASSERT_GT(rounds, 1);
  EXPECT_LE(SpentAfter(p, rounds).classic, 4);
  EXPECT_GT(SpentAfter(p, rounds + 1).classic, 4);
  EXPECT_EQ(BudgetRounds(config), rounds);
  // A budget for more rounds than configured leaves them.
  std::vector<std::string> few = overrides;
  few.push_back("federated.rounds=3");
  const v1::JobConfig small = *Job(few);
  EXPECT_EQ(small.federated().rounds(), 3);
  EXPECT_EQ(BudgetRounds(small), rounds);
  // Applying it again changes nothing.
  v1::JobConfig again = config;
  LimitRoundsToBudget(&again);
  EXPECT_EQ(again.federated().rounds(), rounds);
}

TEST(PrivacyConfigTest, BadSettingsNameTheirField) {
  struct Case {
    std::vector<std::string> overrides;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"privacy.noise_multiplier=1"}, "privacy.clip_norm: must be"},
      {{"privacy.clip_norm=-1"}, "privacy.clip_norm: must be"},
      {{"privacy.clip_norm=1", "privacy.noise_multiplier=-1"},
       "privacy.noise_multiplier"},
      {{"privacy.clip_norm=1", "privacy.delta=1"}, "privacy.delta"},
      {{"privacy.clip_norm=1", "privacy.noise_multiplier=1",
        "privacy.target_epsilon=0.001"},
       "privacy.target_epsilon: 0.001 allows no round"},
      {{"privacy.clip_norm=1", "privacy.target_epsilon=3"},
       "privacy.target_epsilon: needs noise_multiplier > 0"},
      {{"privacy.clip_norm=1", "privacy.noise_multiplier=1",
        "privacy.noise=LOCAL", "privacy.target_epsilon=3"},
       "privacy.target_epsilon: needs CENTRAL"},
      {{"privacy.clip_norm=1", "privacy.adaptive_clipping.target_quantile=1"},
       "privacy.adaptive_clipping.target_quantile"},
      {{"privacy.clip_norm=1", "privacy.noise=LOCAL",
        "privacy.adaptive_clipping.target_quantile=0.5"},
       "privacy.adaptive_clipping: needs CENTRAL"},
      {{"privacy.clip_norm=1", "privacy.noise_multiplier=2",
        "privacy.adaptive_clipping.target_quantile=0.5"},
       "privacy.adaptive_clipping.count_stddev: must exceed"},
  };
  for (const Case& c : cases) {
    const absl::StatusOr<v1::JobConfig> config = Job(c.overrides);
    ASSERT_FALSE(config.ok()) << c.expected;
    EXPECT_THAT(config.status().message(), HasSubstr(c.expected));
  }
}

// DP-SGD: a privacy section without federated.
absl::StatusOr<v1::JobConfig> DpSgdJob(
    const std::vector<std::string>& overrides) {
  return ParseJobConfig(
      "model { mlp { hidden: [8] } }\n"
      "data { synthetic { kind: LOGISTIC } }\n"
      "optimizer { sgd { learning_rate: 1 } }\n"
      "cluster { num_workers: 2 }\n"
      "train { consistency: BSP batch_size: 100 }\n"
      "privacy { clip_norm: 1 noise_multiplier: 1.1 }\n",
      "job.textproto", overrides);
}

TEST(PrivacyConfigTest, DpSgdNeedsBspADenseModelAndPlainPushes) {
  const absl::StatusOr<v1::JobConfig> config = DpSgdJob({});
  ASSERT_TRUE(config.ok()) << config.status();
  const PrivacyOptions p = PrivacyOptionsOf(*config);
  EXPECT_TRUE(p.enabled);
  EXPECT_DOUBLE_EQ(p.delta, 1e-5);
  EXPECT_EQ(p.noise_seed, config->train().seed());
  // A step's 2 x 100 examples of N.
  EXPECT_DOUBLE_EQ(DpSgdSamplingRate(*config, 10000), 0.02);
  EXPECT_DOUBLE_EQ(DpSgdSamplingRate(*config, 150), 1.0);
  EXPECT_DOUBLE_EQ(DpSgdSamplingRate(*DpSgdJob({"train.batch_size=0"}), 10000),
                   1.0);
  struct Case {
    std::vector<std::string> overrides;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"train.consistency=ASP"}, "train.consistency: DP-SGD needs BSP"},
      {{"privacy.noise=LOCAL"}, "privacy.noise: LOCAL noise is a federated"},
      {{"privacy.target_epsilon=3", "privacy.noise_multiplier=0"},
       "privacy.target_epsilon: needs noise_multiplier > 0"},
      {{"privacy.adaptive_clipping.target_quantile=0.5"},
       "privacy.adaptive_clipping: is federated only"},
      {{"train.communication.top_k_fraction=0.1"},
       "train.communication: leave it unset with DP-SGD"},
      {{"privacy.clip_norm=0"}, "privacy.clip_norm: must be"},
  };
  for (const Case& c : cases) {
    const absl::StatusOr<v1::JobConfig> refused = DpSgdJob(c.overrides);
    ASSERT_FALSE(refused.ok()) << c.expected;
    EXPECT_THAT(refused.status().message(), HasSubstr(c.expected));
  }
}

TEST(PrivacyConfigTest, DpSgdBudgetLowersTheEpochsOnceNIsKnown) {
  // q = 2 x 128 / 10,000, z = 1.1: epsilon 3 at delta 1e-5 allows 264
  // steps, 6 epochs of 40.
  v1::JobConfig config = *DpSgdJob(
      {"train.batch_size=128", "train.epochs=10", "privacy.target_epsilon=3"});
  const absl::StatusOr<std::optional<int64_t>> budget =
      LimitEpochsToBudget(&config, 10000);
  ASSERT_TRUE(budget.ok()) << budget.status();
  ASSERT_TRUE(budget->has_value());
  EXPECT_EQ(**budget, 264);
  EXPECT_EQ(config.train().epochs(), 6);
  PrivacyOptions o = PrivacyOptionsOf(config);
  o.sampling_rate = 0.0256;
  EXPECT_LE(SpentAfter(o, 264).classic, 3);
  EXPECT_GT(SpentAfter(o, 265).classic, 3);
  // Fewer epochs than the budget allows stay; no budget, nothing.
  v1::JobConfig short_job = *DpSgdJob(
      {"train.batch_size=128", "train.epochs=2", "privacy.target_epsilon=3"});
  ASSERT_TRUE(LimitEpochsToBudget(&short_job, 10000).ok());
  EXPECT_EQ(short_job.train().epochs(), 2);
  v1::JobConfig plain = *DpSgdJob({"train.epochs=4"});
  EXPECT_FALSE(LimitEpochsToBudget(&plain, 10000)->has_value());
  EXPECT_EQ(plain.train().epochs(), 4);
  // A budget below one epoch names the field.
  v1::JobConfig tight =
      *DpSgdJob({"train.batch_size=128", "privacy.target_epsilon=0.05"});
  const absl::StatusOr<std::optional<int64_t>> none =
      LimitEpochsToBudget(&tight, 10000);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(),
              HasSubstr("privacy.target_epsilon: 0.05 allows"));
}

}  // namespace
}  // namespace descent
