#include "common/data/client_partition.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

// n labels, each class holding n / classes of them (where that divides),
// interleaved.
std::vector<int32_t> Labels(int64_t n, int classes) {
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = (i * 7) % classes;
  return labels;
}

// Every example exactly once, each client's indices ascending, sizes >= 1
// (or >= min).
void ExpectExactCover(const ClientPartition& p, int64_t n, int64_t clients,
                      int64_t min_size = 1) {
  ASSERT_EQ(p.clients(), clients);
  ASSERT_EQ(p.offsets.front(), 0);
  ASSERT_EQ(p.offsets.back(), n);
  std::vector<int> seen(n, 0);
  for (int64_t k = 0; k < clients; ++k) {
    EXPECT_GE(p.size(k), min_size) << "client " << k;
    auto examples = p.examples(k);
    EXPECT_TRUE(std::is_sorted(examples.begin(), examples.end()));
    for (int32_t i : examples) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, n);
      ++seen[i];
    }
  }
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "example " << i;
}

std::vector<std::vector<int64_t>> Counts(const ClientPartition& p,
                                         const std::vector<int32_t>& labels,
                                         int classes) {
  std::vector<std::vector<int64_t>> counts(p.clients(),
                                           std::vector<int64_t>(classes));
  for (int64_t k = 0; k < p.clients(); ++k) {
    for (int32_t i : p.examples(k)) ++counts[k][labels[i]];
  }
  return counts;
}

PartitionOptions Options(PartitionKind kind, int64_t clients,
                         uint64_t seed = 1) {
  PartitionOptions o;
  o.kind = kind;
  o.clients = clients;
  o.seed = seed;
  return o;
}

TEST(PartitionClients, IidIsBalancedAndCoversEveryExampleOnce) {
  const std::vector<int32_t> labels = Labels(10007, 10);
  auto p = PartitionClients(labels, 10, Options(PartitionKind::kIid, 100));
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectExactCover(*p, 10007, 100);
  for (int64_t k = 0; k < 100; ++k) {
    EXPECT_TRUE(p->size(k) == 100 || p->size(k) == 101) << p->size(k);
  }
  // A shuffle, not consecutive runs: client 0 is spread over the range.
  auto first = p->examples(0);
  EXPECT_GT(first.back() - first.front(), 5000);
}

TEST(PartitionClients, SameSeedSamePartitionOtherSeedAnother) {
  const std::vector<int32_t> labels = Labels(5000, 10);
  for (PartitionKind kind :
       {PartitionKind::kIid, PartitionKind::kDirichlet,
        PartitionKind::kPathological, PartitionKind::kQuantitySkew}) {
    SCOPED_TRACE(static_cast<int>(kind));
    auto a = PartitionClients(labels, 10, Options(kind, 20, 7));
    auto b = PartitionClients(labels, 10, Options(kind, 20, 7));
    auto c = PartitionClients(labels, 10, Options(kind, 20, 8));
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_EQ(a->indices, b->indices);
    EXPECT_EQ(a->offsets, b->offsets);
    EXPECT_TRUE(a->indices != c->indices || a->offsets != c->offsets);
  }
}

// Under Dir(alpha) per class, client k's share of class c has mean 1/K and
// variance (1/K)(1 - 1/K) / (K alpha + 1). Checked over many seeds.
TEST(PartitionClients, DirichletSharesHaveTheDistributionsMoments) {
  const int classes = 10;
  const int64_t k = 10;
  const std::vector<int32_t> labels = Labels(20000, classes);
  for (double alpha : {0.1, 0.5, 10.0}) {
    SCOPED_TRACE(alpha);
    double sum = 0, sum_sq = 0;
    int64_t samples = 0;
    for (uint64_t seed = 1; seed <= 60; ++seed) {
      PartitionOptions o = Options(PartitionKind::kDirichlet, k, seed);
      o.alpha = alpha;
      o.min_client_size = 0;
      auto p = PartitionClients(labels, classes, o);
      ASSERT_TRUE(p.ok()) << p.status();
      ExpectExactCover(*p, 20000, k, 0);
      const auto counts = Counts(*p, labels, classes);
      for (int c = 0; c < classes; ++c) {
        for (int64_t j = 0; j < k; ++j) {
          const double share = counts[j][c] / 2000.0;
          sum += share;
          sum_sq += share * share;
          ++samples;
        }
      }
    }
    const double mean = sum / samples;
    const double variance = sum_sq / samples - mean * mean;
    const double expected = (1.0 / k) * (1 - 1.0 / k) / (k * alpha + 1);
    EXPECT_NEAR(mean, 1.0 / k, 1e-9);
    EXPECT_NEAR(variance / expected, 1.0, 0.2)
        << "variance " << variance << ", Dir(" << alpha << ") gives "
        << expected;
  }
}

TEST(PartitionClients, DirichletRedrawsUntilEveryClientHasTheMinimum) {
  const std::vector<int32_t> labels = Labels(6000, 10);
  PartitionOptions o = Options(PartitionKind::kDirichlet, 30);
  o.alpha = 0.3;
  o.min_client_size = 20;
  auto p = PartitionClients(labels, 10, o);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectExactCover(*p, 6000, 30, 20);
  // Small alpha skews labels: a client's largest class is a far larger
  // share of its examples than under IID.
  auto top_share = [&](const ClientPartition& partition) {
    double total = 0;
    for (const auto& row : Counts(partition, labels, 10)) {
      const int64_t top = *std::max_element(row.begin(), row.end());
      total += static_cast<double>(top) /
               std::accumulate(row.begin(), row.end(), int64_t{0});
    }
    return total / partition.clients();
  };
  auto iid = PartitionClients(labels, 10, Options(PartitionKind::kIid, 30));
  ASSERT_TRUE(iid.ok());
  EXPECT_GT(top_share(*p), 2 * top_share(*iid))
      << top_share(*p) << " against IID's " << top_share(*iid);
}

TEST(PartitionClients, ImpossibleDirichletMinimumNamesTheOptions) {
  const std::vector<int32_t> labels = Labels(1000, 10);
  PartitionOptions o = Options(PartitionKind::kDirichlet, 100);
  o.alpha = 0.01;
  o.min_client_size = 10;  // every client exactly 10: never drawn
  auto p = PartitionClients(labels, 10, o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("min_client_size = 10"),
            std::string::npos)
      << p.status();
  EXPECT_NE(p.status().message().find("alpha = 0.01"), std::string::npos);
}

TEST(PartitionClients, PathologicalGivesEachClientExactlyTwoLabels) {
  // McMahan et al.'s split: 60,000 examples, 6,000 per class, 200 shards of
  // 300, 2 per client.
  const std::vector<int32_t> labels = Labels(60000, 10);
  for (uint64_t seed : {1, 2, 3}) {
    auto p = PartitionClients(labels, 10,
                              Options(PartitionKind::kPathological, 100, seed));
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectExactCover(*p, 60000, 100, 600);
    const auto counts = Counts(*p, labels, 10);
    for (int64_t k = 0; k < 100; ++k) {
      EXPECT_EQ(p->size(k), 600);
      int labels_held = 0;
      for (int64_t n : counts[k]) {
        labels_held += n > 0;
        EXPECT_TRUE(n == 0 || n == 300 || n == 600) << n;
      }
      EXPECT_EQ(labels_held, 2) << "client " << k << ", seed " << seed;
    }
  }
}

TEST(PartitionClients, PathologicalWithUnevenShardsStillCoversAll) {
  const std::vector<int32_t> labels = Labels(1003, 3);
  PartitionOptions o = Options(PartitionKind::kPathological, 7);
  o.shards_per_client = 3;
  auto p = PartitionClients(labels, 3, o);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectExactCover(*p, 1003, 7, 3 * (1003 / 21));
}

TEST(PartitionClients, QuantitySkewIsHeavyTailedAboveTheMinimum) {
  const std::vector<int32_t> labels = Labels(50000, 10);
  PartitionOptions o = Options(PartitionKind::kQuantitySkew, 200);
  o.exponent = 1.0;
  o.min_client_size = 10;
  auto p = PartitionClients(labels, 10, o);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectExactCover(*p, 50000, 200, 10);
  std::vector<int64_t> sizes;
  for (int64_t k = 0; k < 200; ++k) sizes.push_back(p->size(k));
  std::sort(sizes.begin(), sizes.end());
  const int64_t median = sizes[100];
  EXPECT_GT(sizes.back(), 10 * median) << "largest " << sizes.back();
  // A lighter tail is less skewed.
  o.exponent = 8.0;
  auto light = PartitionClients(labels, 10, o);
  ASSERT_TRUE(light.ok());
  int64_t light_max = 0;
  for (int64_t k = 0; k < 200; ++k)
    light_max = std::max(light_max, light->size(k));
  EXPECT_LT(light_max, sizes.back());
}

// min_client_size 0 lets a sized partition have more clients than
// examples: every example still goes to exactly one client.
TEST(PartitionClients, SizedPartitionsWithoutAMinimumMayHaveEmptyClients) {
  const std::vector<int32_t> labels = Labels(300, 10);
  for (PartitionKind kind :
       {PartitionKind::kDirichlet, PartitionKind::kQuantitySkew}) {
    PartitionOptions o = Options(kind, 1000);
    o.min_client_size = 0;
    absl::StatusOr<ClientPartition> p = PartitionClients(labels, 10, o);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectExactCover(*p, 300, 1000, /*min_size=*/0);
    o.min_client_size = 1;
    EXPECT_TRUE(
        absl::IsInvalidArgument(PartitionClients(labels, 10, o).status()));
  }
  EXPECT_TRUE(absl::IsInvalidArgument(
      PartitionClients(labels, 10, Options(PartitionKind::kIid, 301))
          .status()));
}

TEST(PartitionClients, BadOptionsNameTheField) {
  const std::vector<int32_t> labels = Labels(100, 10);
  struct Case {
    PartitionOptions options;
    std::string fragment;
  };
  std::vector<Case> cases;
  cases.push_back({Options(PartitionKind::kIid, 0), "federated.clients"});
  cases.push_back({Options(PartitionKind::kIid, 101), "only 100"});
  PartitionOptions alpha = Options(PartitionKind::kDirichlet, 10);
  alpha.alpha = 0;
  cases.push_back({alpha, "federated.partition.alpha"});
  PartitionOptions minimum = Options(PartitionKind::kQuantitySkew, 10);
  minimum.min_client_size = 11;
  cases.push_back({minimum, "federated.partition.min_client_size"});
  PartitionOptions exponent = Options(PartitionKind::kQuantitySkew, 10);
  exponent.exponent = -1;
  cases.push_back({exponent, "federated.partition.exponent"});
  PartitionOptions shards = Options(PartitionKind::kPathological, 60);
  cases.push_back({shards, "120 shards"});
  for (const Case& c : cases) {
    auto p = PartitionClients(labels, 10, c.options);
    ASSERT_FALSE(p.ok()) << c.fragment;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.fragment), std::string::npos)
        << p.status();
  }
  std::vector<int32_t> bad = labels;
  bad[5] = 10;
  auto p = PartitionClients(bad, 10, Options(PartitionKind::kIid, 10));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("label 10"), std::string::npos);
}

TEST(PartitionSummaryCsv, OneRowPerClientWithItsClassCounts) {
  const std::vector<int32_t> labels = {0, 1, 1, 2, 0, 2};
  ClientPartition p;
  p.offsets = {0, 2, 6};
  p.indices = {1, 2, 0, 3, 4, 5};
  EXPECT_EQ(PartitionSummaryCsv(p, labels, 3),
            "client,examples,labels,class_0,class_1,class_2\n"
            "0,2,1,0,2,0\n"
            "1,4,2,2,0,2\n");
}

}  // namespace
}  // namespace descent
