// RoundPlan: seeded sampling without replacement, dropouts at their rate,
// late reports past the deadline, over-selection, retries below
// min_reports; the federated config's defaults and errors.
#include "common/federated/round_plan.h"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

FederatedOptions Basic(int64_t clients, int64_t per_round) {
  FederatedOptions o;
  o.clients = clients;
  o.clients_per_round = per_round;
  o.rounds = 100;
  o.seed = 5;
  return o;
}

std::vector<int64_t> Sizes(int64_t clients, int64_t size) {
  return std::vector<int64_t>(clients, size);
}

TEST(RoundPlanTest, SamplesDistinctClientsDeterminedBySeedAndRound) {
  const FederatedOptions o = Basic(100, 10);
  const std::vector<int64_t> sizes = Sizes(100, 60);
  std::set<std::vector<int64_t>> seen;
  for (int64_t r = 0; r < 50; ++r) {
    const RoundPlan plan = PlanRound(o, sizes, r);
    ASSERT_EQ(plan.participants.size(), 10u);
    EXPECT_EQ(plan.attempts, 1);
    EXPECT_EQ(plan.sampled, 10);
    EXPECT_TRUE(
        std::is_sorted(plan.participants.begin(), plan.participants.end()));
    EXPECT_EQ(
        std::set<int64_t>(plan.participants.begin(), plan.participants.end())
            .size(),
        10u);
    for (int64_t k : plan.participants) {
      EXPECT_GE(k, 0);
      EXPECT_LT(k, 100);
    }
    EXPECT_EQ(PlanRound(o, sizes, r).participants, plan.participants);
    seen.insert(plan.participants);
  }
  EXPECT_GT(seen.size(), 45u);  // rounds differ
  FederatedOptions other = o;
  other.seed = 6;
  EXPECT_NE(PlanRound(other, sizes, 0).participants,
            PlanRound(o, sizes, 0).participants);
}

// Every client is equally likely: over many rounds each is sampled about
// R m / K times.
TEST(RoundPlanTest, SamplingIsUniform) {
  const FederatedOptions o = Basic(20, 5);
  const std::vector<int64_t> sizes = Sizes(20, 10);
  std::vector<int> count(20);
  constexpr int kRounds = 4000;
  for (int r = 0; r < kRounds; ++r) {
    for (int64_t k : PlanRound(o, sizes, r).participants) ++count[k];
  }
  const double expected = kRounds * 5.0 / 20;  // 1000, sd about 27
  for (int k = 0; k < 20; ++k) EXPECT_NEAR(count[k], expected, 120) << k;
}

TEST(RoundPlanTest, DropoutsHappenAtTheirRate) {
  FederatedOptions o = Basic(1000, 100);
  o.dropout_probability = 0.25;
  o.max_round_attempts = 1;
  const std::vector<int64_t> sizes = Sizes(1000, 10);
  int64_t dropped = 0, sampled = 0;
  for (int r = 0; r < 200; ++r) {
    const RoundPlan plan = PlanRound(o, sizes, r);
    dropped += plan.dropped;
    sampled += plan.sampled;
    EXPECT_EQ(plan.dropped + static_cast<int64_t>(plan.participants.size()),
              plan.sampled);
  }
  EXPECT_NEAR(static_cast<double>(dropped) / sampled, 0.25, 0.01);
}

// Client k takes E n_k / speed_k simulated seconds; past the deadline it is
// late, and the round lasts as long as its slowest used report.
TEST(RoundPlanTest, ReportsPastTheDeadlineAreLate) {
  FederatedOptions o = Basic(50, 50);
  o.local_epochs = 2;
  o.speed_mean = 100;
  o.speed_sigma = 0.8;
  o.round_deadline_seconds = 1.0;
  o.min_reports = 1;
  std::vector<int64_t> sizes(50);
  for (int k = 0; k < 50; ++k) sizes[k] = 10 + 2 * k;
  const RoundPlan plan = PlanRound(o, sizes, 0);
  int64_t late = 0;
  double slowest = 0;
  for (int64_t k = 0; k < 50; ++k) {
    const double seconds = 2.0 * sizes[k] / ClientSpeed(o, k);
    const bool used =
        std::find(plan.participants.begin(), plan.participants.end(), k) !=
        plan.participants.end();
    EXPECT_EQ(used, seconds <= 1.0) << k;
    late += seconds > 1.0;
    if (used) slowest = std::max(slowest, seconds);
  }
  EXPECT_GT(late, 0);
  EXPECT_LT(late, 50);
  EXPECT_EQ(plan.late, late);
  EXPECT_DOUBLE_EQ(plan.simulated_seconds, slowest);
  EXPECT_LE(plan.simulated_seconds, o.round_deadline_seconds);
}

TEST(RoundPlanTest, OverSelectionUsesTheFirstReports) {
  FederatedOptions o = Basic(100, 10);
  o.over_selection = 0.5;
  o.speed_sigma = 1;
  const std::vector<int64_t> sizes = Sizes(100, 50);
  const RoundPlan plan = PlanRound(o, sizes, 3);
  EXPECT_EQ(plan.sampled, 15);
  EXPECT_EQ(plan.participants.size(), 10u);
  EXPECT_EQ(plan.late, 5);
  double slowest_used = 0;
  for (int64_t k : plan.participants) {
    slowest_used = std::max(slowest_used, 50 / ClientSpeed(o, k));
  }
  EXPECT_DOUBLE_EQ(plan.simulated_seconds, slowest_used);
}

// Too few reports: the round is tried again with other clients, and the
// simulated time includes each failed attempt's wait for its deadline.
TEST(RoundPlanTest, TooFewReportsRetryTheRound) {
  FederatedOptions o = Basic(100, 10);
  o.dropout_probability = 0.5;
  o.min_reports = 8;
  o.round_deadline_seconds = 5;
  const std::vector<int64_t> sizes = Sizes(100, 10);
  int retried = 0;
  for (int r = 0; r < 100; ++r) {
    const RoundPlan plan = PlanRound(o, sizes, r);
    if (plan.attempts > 1) ++retried;
    if (!plan.participants.empty()) {
      EXPECT_GE(plan.participants.size(), 8u);
    }
    EXPECT_EQ(plan.sampled, 10 * plan.attempts);
    // Failed attempts waited for the deadline; the used one 10 / 1000 s.
    EXPECT_NEAR(plan.simulated_seconds,
                5.0 * (plan.attempts - (plan.participants.empty() ? 0 : 1)) +
                    (plan.participants.empty() ? 0 : 0.01),
                1e-9);
  }
  EXPECT_GT(retried, 50);  // P(>= 8 of 10 report) is 5.5%
  // Everyone drops: every attempt fails and the round uses nobody.
  o.dropout_probability = 1;
  const RoundPlan none = PlanRound(o, sizes, 0);
  EXPECT_EQ(none.attempts, o.max_round_attempts);
  EXPECT_TRUE(none.participants.empty());
  EXPECT_EQ(none.dropped, 10 * o.max_round_attempts);
}

TEST(ClientDataTest, HoldsOutTheRequestedFractionOfEachClient) {
  FederatedOptions o = Basic(7, 2);
  o.partition.clients = 7;
  o.client_eval_fraction = 0.2;
  std::vector<int32_t> labels(103);
  for (int i = 0; i < 103; ++i) labels[i] = i % 3;
  const ClientData data = *MakeClientData(o, labels, 3);
  std::vector<int> seen(103);
  for (int64_t k = 0; k < 7; ++k) {
    const int64_t n = data.partition.size(k);
    const int64_t held = std::max<int64_t>(1, static_cast<int64_t>(0.2 * n));
    EXPECT_EQ(static_cast<int64_t>(data.held_out(k).size()), held);
    EXPECT_EQ(data.train_sizes[k], n - held);
    for (int32_t i : data.train(k)) ++seen[i];
    for (int32_t i : data.held_out(k)) ++seen[i];
  }
  for (int c : seen) EXPECT_EQ(c, 1);
  EXPECT_EQ(MakeClientData(o, labels, 3)->partition.indices,
            data.partition.indices);
}

constexpr char kJob[] =
    "model { mlp { hidden: [8] } }\n"
    "data { synthetic { kind: LOGISTIC } }\n"
    "optimizer { sgd { learning_rate: 1 } }\n"
    "federated { clients: 20 }\n";

absl::StatusOr<v1::JobConfig> Federated(
    const std::vector<std::string>& overrides = {}) {
  return ParseJobConfig(kJob, "job.textproto", overrides);
}

TEST(FederatedConfigTest, DefaultsAreStatedAndTheRoundIsBsp) {
  const v1::JobConfig config = *Federated();
  EXPECT_EQ(config.train().consistency(), v1::BSP);
  EXPECT_FALSE(config.train().overlap_communication());
  EXPECT_EQ(config.train().eval_every_steps(), 0);
  const FederatedOptions o = FederatedOptionsOf(config);
  EXPECT_EQ(o.clients_per_round, 2);  // 0.1 of 20
  EXPECT_EQ(o.rounds, 100);
  EXPECT_EQ(o.local_epochs, 1);
  EXPECT_EQ(o.local_batch_size, 10);
  EXPECT_FLOAT_EQ(o.local_learning_rate, 0.1f);
  EXPECT_EQ(o.seed, config.train().seed());
  EXPECT_EQ(o.min_reports, 1);
  EXPECT_EQ(o.max_round_attempts, 10);
  EXPECT_EQ(o.partition.kind, PartitionKind::kIid);
  EXPECT_EQ(config.cluster().max_workers(), config.cluster().num_workers());
  EXPECT_EQ(FederatedOptionsOf(*Federated({"federated.clients_per_round=7"}))
                .clients_per_round,
            7);
}

// Each bad setting is refused with its field named.
TEST(FederatedConfigTest, BadSettingsNameTheirField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"federated.clients=0", "federated.clients"},
      {"federated.client_fraction=1.5", "federated.client_fraction"},
      {"federated.clients_per_round=21", "federated.clients_per_round"},
      {"federated.rounds=0", "federated.rounds"},
      {"federated.local_epochs=0", "federated.local_epochs"},
      {"federated.local_batch_size=-1", "federated.local_batch_size"},
      {"federated.local_learning_rate=0", "federated.local_learning_rate"},
      {"federated.local_momentum=1", "federated.local_momentum"},
      {"federated.proximal_mu=-1", "federated.proximal_mu"},
      {"federated.dropout_probability=1.5", "federated.dropout_probability"},
      {"federated.speed_mean=0", "federated.speed_mean"},
      {"federated.min_reports=3", "federated.min_reports"},
      {"federated.max_round_attempts=0", "federated.max_round_attempts"},
      {"federated.client_eval_fraction=0.95", "federated.client_eval_fraction"},
      {"federated.partition.alpha=0", "federated.partition.alpha"},
      {"federated.partition.shards_per_client=0",
       "federated.partition.shards_per_client"},
      {"train.consistency=ASP", "train.consistency"},
      {"cluster.num_workers=21", "cluster.num_workers"},
      {"optimizer.fedadam.tau=0", "optimizer.fedadam.tau"},
      {"cluster.max_workers=5", "cluster.max_workers"},
      {"train.early_stopping.patience=2", "train.early_stopping"},
  };
  for (const auto& [override, field] : cases) {
    std::vector<std::string> overrides = {override};
    if (field == "optimizer.fedadam.tau") {
      overrides = {"optimizer={fedadam {}}", override};
    }
    const absl::StatusOr<v1::JobConfig> config = Federated(overrides);
    ASSERT_FALSE(config.ok()) << override;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(field + ":"))
        << override;
  }
  EXPECT_TRUE(Federated().ok());
  EXPECT_TRUE(Federated({"optimizer={fedyogi {learning_rate: 0.03}}"}).ok());
  EXPECT_TRUE(Federated({"train.checkpoint.every_steps=10"}).ok());
}

}  // namespace
}  // namespace descent
