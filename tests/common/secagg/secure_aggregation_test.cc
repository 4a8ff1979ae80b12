// The secure aggregation primitives: key agreement, masks, Shamir shares,
// sealing, fixed point; the config's defaults, errors and dropouts.
#include "common/secagg/secure_aggregation.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/federated/round_plan.h"
#include "common/federated/secure_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/federated/small_job.h"

namespace descent {
namespace secagg {
namespace {

using ::testing::HasSubstr;

TEST(SecureAggregationTest, BothEndsAgreeOnAKeyPerPurposeAndRound) {
  const KeyPair a = NewKeyPair(), b = NewKeyPair(), c = NewKeyPair();
  EXPECT_EQ(PublicKeyOf(a.secret_key), a.public_key);
  const Key ab = *AgreeKey(a.secret_key, b.public_key, kMaskPurpose, 3, 1, 2);
  EXPECT_EQ(ab, *AgreeKey(b.secret_key, a.public_key, kMaskPurpose, 3, 2, 1));
  EXPECT_NE(ab, *AgreeKey(a.secret_key, b.public_key, kSharePurpose, 3, 1, 2));
  EXPECT_NE(ab, *AgreeKey(a.secret_key, b.public_key, kMaskPurpose, 4, 1, 2));
  EXPECT_NE(ab, *AgreeKey(a.secret_key, c.public_key, kMaskPurpose, 3, 1, 2));
  // A low-order point would make the shared secret zero.
  const Key zero{};
  EXPECT_FALSE(AgreeKey(a.secret_key, zero, kMaskPurpose, 3, 1, 2).ok());
}

TEST(SecureAggregationTest, MasksAreOneStreamByGlobalCoordinateAndCancel) {
  const Key seed = RandomSeed();
  std::vector<uint32_t> whole(100, 0);
  AddMask(seed, 7, 0, +1, absl::MakeSpan(whole));
  // Any split of the coordinates makes the same words (shards mask their
  // own slices alone).
  std::vector<uint32_t> left(37, 0), right(63, 0);
  AddMask(seed, 7, 0, +1, absl::MakeSpan(left));
  AddMask(seed, 7, 37, +1, absl::MakeSpan(right));
  for (int i = 0; i < 37; ++i) EXPECT_EQ(whole[i], left[i]);
  for (int i = 0; i < 63; ++i) EXPECT_EQ(whole[37 + i], right[i]);
  // Across the 4 KiB pieces the stream is made in, and from odd offsets.
  std::vector<uint32_t> long_whole(5000, 0), head(1501, 0), tail(3499, 0);
  AddMask(seed, 7, 3, +1, absl::MakeSpan(long_whole));
  AddMask(seed, 7, 3, +1, absl::MakeSpan(head));
  AddMask(seed, 7, 1504, +1, absl::MakeSpan(tail));
  for (int i = 0; i < 1501; ++i) ASSERT_EQ(long_whole[i], head[i]) << i;
  for (int i = 0; i < 3499; ++i) ASSERT_EQ(long_whole[1501 + i], tail[i]) << i;
  for (int i = 0; i < 97; ++i) ASSERT_EQ(long_whole[i], whole[3 + i]) << i;
  // Another round is another stream; +1 then -1 is nothing.
  std::vector<uint32_t> other(100, 0);
  AddMask(seed, 8, 0, +1, absl::MakeSpan(other));
  EXPECT_NE(other, whole);
  AddMask(seed, 7, 0, -1, absl::MakeSpan(whole));
  EXPECT_EQ(whole, std::vector<uint32_t>(100, 0));
}

TEST(SecureAggregationTest, AnyThresholdOfSharesRebuildsTheSecretFewerDoNot) {
  const Key secret = RandomSeed();
  const int n = 10, t = 6;
  const std::vector<Key> shares = Split(secret, n, t);
  ASSERT_EQ(shares.size(), 10u);
  std::mt19937 rng(1);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (int count : {t, n}) {
      std::vector<uint8_t> xs;
      std::vector<Key> some;
      for (int i = 0; i < count; ++i) {
        xs.push_back(static_cast<uint8_t>(order[i] + 1));
        some.push_back(shares[order[i]]);
      }
      EXPECT_EQ(Combine(xs, some), secret) << count << " shares";
    }
    std::vector<uint8_t> xs;
    std::vector<Key> some;
    for (int i = 0; i < t - 1; ++i) {
      xs.push_back(static_cast<uint8_t>(order[i] + 1));
      some.push_back(shares[order[i]]);
    }
    EXPECT_NE(Combine(xs, some), secret);
  }
  // A share alone tells nothing: fresh splits of one secret differ.
  EXPECT_NE(Split(secret, n, t)[0], shares[0]);
}

TEST(SecureAggregationTest, SealedSharesOpenOnlyWithTheirKeyAndContext) {
  const Key key = RandomSeed(), other = RandomSeed();
  const std::string sealed = Seal(key, "sixty-four bytes of shares", "r1 1>2");
  EXPECT_EQ(*Open(key, sealed, "r1 1>2"), "sixty-four bytes of shares");
  EXPECT_NE(Seal(key, "sixty-four bytes of shares", "r1 1>2"), sealed);
  EXPECT_FALSE(Open(other, sealed, "r1 1>2").ok());
  EXPECT_FALSE(Open(key, sealed, "r1 2>1").ok());
  std::string tampered = sealed;
  tampered[30] ^= 1;
  EXPECT_FALSE(Open(key, tampered, "r1 1>2").ok());
  EXPECT_FALSE(Open(key, "short", "r1 1>2").ok());
}

TEST(SecureAggregationTest, FixedPointSumsWithoutWrappingAtTheBound) {
  // 255 clients of weight 600 each at the range's edge: the sum is inside
  // int32, and decodes to the real sum within the rounding.
  const int clients = kMaxClients;
  const double weight = 600;
  const Quantizer q(2.0, clients * weight);
  int64_t clamped = 0;
  for (float value : {2.0f, -2.0f, 0.7f}) {
    uint32_t sum = 0;
    for (int c = 0; c < clients; ++c) sum += q.Encode(value, weight, &clamped);
    EXPECT_NEAR(q.Decode(sum), clients * weight * value,
                clients * weight * 2.0 * 1e-7);
  }
  EXPECT_EQ(clamped, 0);
  EXPECT_EQ(q.Encode(5.0f, weight, &clamped), q.Encode(2.0f, weight, &clamped));
  EXPECT_EQ(clamped, 1);
  EXPECT_EQ(q.Encode(std::nanf(""), 1, &clamped), 0u);
  EXPECT_EQ(Threshold(0.5, 10), 6);
  EXPECT_EQ(Threshold(0.5, 3), 2);
  EXPECT_EQ(Threshold(0.99, 10), 10);
}

absl::StatusOr<v1::JobConfig> Job(const std::vector<std::string>& overrides) {
  return SmallFederatedJob(overrides);
}

TEST(SecureConfigTest, DefaultsAndDropouts) {
  const FederatedOptions plain = FederatedOptionsOf(*Job({}));
  EXPECT_FALSE(plain.secure.enabled);
  const FederatedOptions o =
      FederatedOptionsOf(*Job({"federated.secure_aggregation.enabled=true"}));
  EXPECT_TRUE(o.secure.enabled);
  EXPECT_DOUBLE_EQ(o.secure.threshold, 0.5);
  EXPECT_DOUBLE_EQ(o.secure.clip_range, 1);
  EXPECT_DOUBLE_EQ(
      FederatedOptionsOf(*Job({"federated.secure_aggregation.enabled=true",
                               "privacy.clip_norm=0.3"}))
          .secure.clip_range,
      0.3);
  SecureOptions s;
  s.dropout_fraction = 0.4;
  const std::vector<int64_t> clients = {3, 8, 12, 20, 33, 41, 57, 60, 71, 99};
  const std::vector<int64_t> drops = SecureDropouts(s, 1, 5, clients);
  ASSERT_EQ(drops.size(), 4u);
  EXPECT_TRUE(std::is_sorted(drops.begin(), drops.end()));
  for (int64_t k : drops) {
    EXPECT_TRUE(std::binary_search(clients.begin(), clients.end(), k));
  }
  EXPECT_EQ(SecureDropouts(s, 1, 5, clients), drops);  // seeded
  bool differs = false;
  for (int64_t round = 6; round < 12; ++round) {
    differs |= SecureDropouts(s, 1, round, clients) != drops;
  }
  EXPECT_TRUE(differs);
  s.dropout_fraction = 0;
  EXPECT_TRUE(SecureDropouts(s, 1, 5, clients).empty());
}

TEST(SecureConfigTest, BadSettingsNameTheirField) {
  struct Case {
    std::vector<std::string> overrides;
    std::string expected;
  };
  const std::string on = "federated.secure_aggregation.enabled=true";
  const std::vector<Case> cases = {
      {{"federated.secure_aggregation.threshold=0.6"},
       "federated.secure_aggregation.enabled: must be true"},
      {{on, "federated.secure_aggregation.threshold=0.4"},
       "federated.secure_aggregation.threshold: must be in [0.5, 1)"},
      {{on, "federated.secure_aggregation.threshold=1"},
       "federated.secure_aggregation.threshold"},
      {{on, "federated.secure_aggregation.clip_range=0"},
       "federated.secure_aggregation.clip_range"},
      {{on, "federated.secure_aggregation.dropout_fraction=1"},
       "federated.secure_aggregation.dropout_fraction"},
      {{on, "federated.client_fraction=0.01"}, "needs 2..255 clients"},
      {{on, "federated.clients=1000", "federated.clients_per_round=256"},
       "needs 2..255 clients"},
      {{on, "federated.aggregation.rule=MEDIAN"}, "use aggregation rule MEAN"},
      {{on, "train.communication.encoding=BFLOAT16"},
       "leave train.communication unset"},
  };
  for (const Case& c : cases) {
    const absl::StatusOr<v1::JobConfig> config = Job(c.overrides);
    ASSERT_FALSE(config.ok()) << c.expected;
    EXPECT_THAT(config.status().message(), HasSubstr(c.expected));
  }
}

}  // namespace
}  // namespace secagg
}  // namespace descent
