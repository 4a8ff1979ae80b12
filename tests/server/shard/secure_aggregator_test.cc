// Secure aggregation end to end between the clients' side (SecureClients,
// through real PsClients) and the shards' (SecureAggregator): the unmasked
// sum is exactly the sum of the quantized inputs; what a shard receives
// looks uniformly random whatever the input; up to n - t dropouts after
// masking still aggregate and more fail the round cleanly; a lost worker is
// not waited for; hostile calls are refused and change nothing.
#include "server/shard/secure_aggregator.h"

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/ps_client.h"
#include "common/secagg/secure_aggregation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/secure_client.h"

namespace descent {
namespace {

using ::testing::HasSubstr;
using Request = v1::SecureAggregationRequest;

// Calls the aggregator straight; no Pull or PushPull.
class AggregatorTransport final : public ShardTransport {
 public:
  explicit AggregatorTransport(SecureAggregator* aggregator)
      : aggregator_(aggregator) {}
  void Pull(const v1::PullRequest&, v1::PullResponse*, absl::Duration,
            Done done) override {
    done(absl::UnimplementedError("no pulls here"));
  }
  void PushPull(const v1::PushRequest&, v1::PushPullResponse*, absl::Duration,
                Done done) override {
    done(absl::UnimplementedError("no pushes here"));
  }
  void SecureAggregation(const Request& request,
                         v1::SecureAggregationResponse* response,
                         absl::Duration, Done done) override {
    aggregator_->Handle(request, response, std::move(done));
  }

 private:
  SecureAggregator* const aggregator_;
};

constexpr int64_t kParams = 1000;
constexpr int kShards = 2;
constexpr int kWorkers = 2;
constexpr int64_t kClients = 10;  // client k on worker k % 2

class SecureAggregatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> value(-0.8f, 0.8f);
    for (int64_t k = 0; k < kClients; ++k) {
      values_.emplace_back(kParams);
      for (float& x : values_.back()) x = value(rng);
      weights_.push_back(10 + 7 * k);
    }
    // Client 3 sends the same value everywhere: its masked input must not
    // show it.
    std::fill(values_[3].begin(), values_[3].end(), 0.25f);
    for (int s = 0; s < kShards; ++s) {
      SecureAggregatorOptions o;
      o.num_workers = kWorkers;
      o.clients = kClients;
      o.threshold = 0.5;
      o.clip_range = 1;
      o.begin = s * kParams / kShards;
      o.size = kParams / kShards;
      o.num_parameters = kParams;
      o.routes_shares = s == 0;
      o.on_masked_input = [this, s](int64_t client,
                                    absl::Span<const uint32_t> words) {
        absl::MutexLock lock(&mu_);
        masked_[{s, client}].assign(words.begin(), words.end());
      };
      aggregators_.push_back(
          std::make_unique<SecureAggregator>(o, [this, s](SecureSum sum) {
            absl::MutexLock lock(&mu_);
            sums_[s] = std::move(sum);
          }));
    }
    for (int w = 0; w < kWorkers; ++w) clients_.push_back(ClientOf(w, 0));
  }

  // Worker `w`'s PsClient as incarnation `incarnation`.
  std::unique_ptr<PsClient> ClientOf(int32_t w, int32_t incarnation) {
    PsClient::Options o;
    o.job_id = "job";
    o.worker_id = w;
    o.incarnation = incarnation;
    o.deadline = absl::Seconds(60);
    for (int s = 0; s < kShards; ++s) {
      v1::ShardInfo info;
      info.set_shard(s);
      info.set_address("in-process");
      info.set_begin(s * kParams / kShards);
      info.set_end((s + 1) * kParams / kShards);
      o.shards.push_back(info);
    }
    o.connect = [this](const v1::ShardInfo& info)
        -> absl::StatusOr<std::unique_ptr<ShardTransport>> {
      return std::make_unique<AggregatorTransport>(
          aggregators_[info.shard()].get());
    };
    return *PsClient::Create(std::move(o));
  }

  double WeightBound() const {
    double bound = 0;
    for (double w : weights_) bound += w;
    return bound;
  }

  // Round `round` with every worker's clients (`drops`: those that drop
  // after sharing keys); `workers` of them run.
  std::vector<SecureClients::Outcome> Run(int64_t round,
                                          const std::vector<int64_t>& drops,
                                          int workers = kWorkers) {
    std::vector<SecureClients::Outcome> outcomes(workers);
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        std::vector<SecureClients::Input> inputs;
        for (int64_t k = w; k < kClients; k += kWorkers) {
          SecureClients::Input in;
          in.client = k;
          in.values = values_[k].data();
          in.weight = weights_[k];
          in.unclipped = static_cast<int>(k % 3 == 0);
          in.drops = std::count(drops.begin(), drops.end(), k) > 0;
          inputs.push_back(in);
        }
        SecureOptions o;
        o.enabled = true;
        o.clip_range = 1;
        SecureClients secure(clients_[w].get(), o, 2);
        PsClient::Transfer transfer;
        absl::StatusOr<SecureClients::Outcome> outcome =
            secure.Run(round, WeightBound(), inputs, &transfer);
        ASSERT_TRUE(outcome.ok()) << outcome.status();
        EXPECT_GT(transfer.bytes_sent, 0);
        outcomes[w] = *outcome;
      });
    }
    for (std::thread& t : threads) t.join();
    return outcomes;
  }

  // The exact sum of the quantized inputs of `clients`, decoded, on [0, P).
  std::vector<float> ExpectedSum(const std::vector<int64_t>& clients) const {
    const secagg::Quantizer q(1, WeightBound());
    std::vector<float> sum(kParams);
    int64_t clamped = 0;
    for (int64_t i = 0; i < kParams; ++i) {
      uint32_t s = 0;
      for (int64_t k : clients)
        s += q.Encode(values_[k][i], weights_[k], &clamped);
      sum[i] = static_cast<float>(q.Decode(s));
    }
    return sum;
  }

  void ExpectSumOf(const std::vector<int64_t>& clients) {
    const std::vector<float> expected = ExpectedSum(clients);
    double weight = 0;
    int64_t unclipped = 0;
    for (int64_t k : clients) {
      weight += weights_[k];
      unclipped += k % 3 == 0;
    }
    absl::MutexLock lock(&mu_);
    for (int s = 0; s < kShards; ++s) {
      ASSERT_TRUE(sums_[s].has_value()) << "shard " << s;
      const SecureSum& sum = *sums_[s];
      EXPECT_EQ(sum.weight, weight);
      EXPECT_EQ(sum.unclipped, unclipped);
      EXPECT_EQ(sum.clients, static_cast<int64_t>(clients.size()));
      ASSERT_EQ(sum.sum.size(), static_cast<size_t>(kParams / kShards));
      for (size_t i = 0; i < sum.sum.size(); ++i) {
        ASSERT_EQ(sum.sum[i], expected[s * kParams / kShards + i])
            << "shard " << s << " value " << i;
      }
      // And that is the real weighted sum, to the fixed point's precision.
      double real = 0;
      for (int64_t k : clients) {
        real += weights_[k] * values_[k][s * kParams / kShards];
      }
      EXPECT_NEAR(sum.sum[0], real, 1e-4 * weight);
    }
  }

  absl::Mutex mu_;
  std::vector<std::vector<float>> values_;
  std::vector<double> weights_;
  std::vector<std::unique_ptr<SecureAggregator>> aggregators_;
  std::vector<std::unique_ptr<PsClient>> clients_;
  std::map<int, std::optional<SecureSum>> sums_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<int, int64_t>, std::vector<uint32_t>> masked_
      ABSL_GUARDED_BY(mu_);
};

TEST_F(SecureAggregatorTest, UnmaskedSumIsExactlyTheSumOfQuantizedInputs) {
  const std::vector<SecureClients::Outcome> outcomes = Run(0, {});
  for (const SecureClients::Outcome& o : outcomes) {
    EXPECT_FALSE(o.failed) << o.reason;
    EXPECT_EQ(o.aggregated, kClients);
    EXPECT_EQ(o.dropped, 0);
  }
  ExpectSumOf({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(aggregators_[0]->rounds_unmasked(), 1);
}

// Chi-square of the top 4 bits of `words` against uniform (15 degrees of
// freedom; 60 is beyond p = 1e-6).
double ChiSquare(const std::vector<uint32_t>& words) {
  std::vector<double> bins(16, 0);
  for (uint32_t w : words) bins[w >> 28] += 1;
  const double expected = static_cast<double>(words.size()) / 16;
  double chi = 0;
  for (double b : bins) chi += (b - expected) * (b - expected) / expected;
  return chi;
}

double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.size();
  mb /= b.size();
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) * (a[i] - ma);
    bb += (b[i] - mb) * (b[i] - mb);
  }
  return ab / std::sqrt(aa * bb);
}

TEST_F(SecureAggregatorTest, ShardsSeeOnlyMaskedInputs) {
  Run(0, {});
  std::map<std::pair<int, int64_t>, std::vector<uint32_t>> first;
  {
    absl::MutexLock lock(&mu_);
    first = masked_;
  }
  ASSERT_EQ(first.size(), static_cast<size_t>(kShards * kClients));
  const secagg::Quantizer q(1, WeightBound());
  int64_t clamped = 0;
  for (const auto& [at, words] : first) {
    const auto [shard, client] = at;
    ASSERT_EQ(words.size(), static_cast<size_t>(kParams / kShards + 2));
    std::vector<uint32_t> slice(words.begin(), words.end() - 2);
    EXPECT_LT(ChiSquare(slice), 60)
        << "shard " << shard << " client " << client;
    // Nothing of the input shows: neither its words nor its values.
    std::vector<double> input, seen;
    int same = 0;
    for (size_t i = 0; i < slice.size(); ++i) {
      const float x = values_[client][shard * kParams / kShards + i];
      same += slice[i] == q.Encode(x, weights_[client], &clamped);
      input.push_back(x);
      seen.push_back(static_cast<double>(static_cast<int32_t>(slice[i])));
    }
    EXPECT_LE(same, 2);
    if (client != 3) {
      EXPECT_LT(std::abs(Correlation(input, seen)), 0.25)
          << "shard " << shard << " client " << client;
    }
    EXPECT_NE(words[words.size() - 2], static_cast<uint32_t>(weights_[client]));
  }
  // Client 3's constant input is as hidden as the others'.
  const std::vector<uint32_t>& constant = first[std::make_pair(0, int64_t{3})];
  EXPECT_GT(std::set<uint32_t>(constant.begin(), constant.end()).size(), 490u);
  // The same inputs again: fresh keys and seeds, other masked words, the
  // same sum.
  Run(1, {});
  absl::MutexLock lock(&mu_);
  const std::pair<int, int64_t> at{0, 0};
  EXPECT_NE(masked_[at], first[at]);
}

TEST_F(SecureAggregatorTest, UpToNMinusTDropoutsAfterMaskingStillAggregate) {
  // n = 10, t = 6: four may drop.
  const std::vector<SecureClients::Outcome> outcomes = Run(0, {1, 4, 6, 9});
  for (const SecureClients::Outcome& o : outcomes) {
    EXPECT_FALSE(o.failed) << o.reason;
    EXPECT_EQ(o.aggregated, 6);
    EXPECT_EQ(o.dropped, 4);
    EXPECT_EQ(o.survivors, std::vector<int64_t>({0, 2, 3, 5, 7, 8}));
  }
  ExpectSumOf({0, 2, 3, 5, 7, 8});
}

TEST_F(SecureAggregatorTest, MoreDropoutsFailTheRoundCleanly) {
  const std::vector<SecureClients::Outcome> outcomes = Run(0, {0, 1, 4, 6, 9});
  for (const SecureClients::Outcome& o : outcomes) {
    EXPECT_TRUE(o.failed);
    EXPECT_THAT(o.reason, HasSubstr("5 of 10 clients sent masked inputs, "
                                    "fewer than the threshold 6"));
    EXPECT_EQ(o.aggregated, 0);
  }
  {
    absl::MutexLock lock(&mu_);
    EXPECT_TRUE(sums_.empty());
  }
  EXPECT_EQ(aggregators_[0]->rounds_failed(), 1);
  EXPECT_EQ(aggregators_[1]->rounds_failed(), 1);
  // The next round starts clean.
  Run(1, {});
  ExpectSumOf({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_F(SecureAggregatorTest, LostWorkerIsNotWaitedFor) {
  std::thread lose([this] {
    absl::SleepFor(absl::Milliseconds(200));
    for (auto& a : aggregators_) a->WorkerLost(1);
  });
  const std::vector<SecureClients::Outcome> outcomes = Run(0, {}, 1);
  lose.join();
  EXPECT_FALSE(outcomes[0].failed) << outcomes[0].reason;
  EXPECT_EQ(outcomes[0].aggregated, 5);
  const std::vector<int64_t> mine = {0, 2, 4, 6, 8};
  const std::vector<float> expected = ExpectedSum(mine);
  absl::MutexLock lock(&mu_);
  ASSERT_TRUE(sums_[0].has_value());
  EXPECT_EQ(sums_[0]->sum[7], expected[7]);
  EXPECT_EQ(sums_[0]->clients, 5);
}

TEST_F(SecureAggregatorTest, HostileCallsAreRefusedAndChangeNothing) {
  const auto call = [this](const Request& request) {
    v1::SecureAggregationResponse response;
    absl::Status result = absl::InternalError("not answered");
    aggregators_[0]->Handle(request, &response,
                            [&](absl::Status s) { result = std::move(s); });
    return result;
  };
  Request r;
  r.mutable_header()->set_worker_id(0);
  r.set_phase(Request::ADVERTISE_KEYS);
  r.set_weight_bound(WeightBound());
  v1::SecureClientMessage* c = r.add_clients();
  c->set_client(0);
  c->set_cipher_public_key(std::string(31, 'k'));
  c->set_mask_public_key(std::string(32, 'k'));
  EXPECT_THAT(call(r).message(), HasSubstr("public keys must be 32 bytes"));
  c->set_cipher_public_key(std::string(32, 'k'));
  c->set_client(kClients);
  EXPECT_THAT(call(r).message(), HasSubstr("is not in [0, 10)"));
  c->set_client(0);
  r.set_weight_bound(-1);
  EXPECT_THAT(call(r).message(), HasSubstr("weight_bound"));
  // A phase ahead of the shard: as after a restart, begin again.
  r.set_phase(Request::MASKED_INPUT);
  EXPECT_EQ(call(r).code(), absl::StatusCode::kAborted);
  r.set_phase(Request::PHASE_UNSPECIFIED);
  EXPECT_EQ(call(r).code(), absl::StatusCode::kInvalidArgument);
  r.mutable_header()->set_worker_id(kWorkers);
  r.set_phase(Request::ADVERTISE_KEYS);
  EXPECT_EQ(call(r).code(), absl::StatusCode::kFailedPrecondition);
  // None of that was recorded: the round runs as if it never came.
  Run(0, {});
  ExpectSumOf({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  // A round already over is refused.
  r.mutable_header()->set_worker_id(0);
  r.mutable_header()->set_step(-1);
  EXPECT_THAT(call(r).message(), HasSubstr("is over"));
}

TEST_F(SecureAggregatorTest, AReplacedWorkerStartsTheRoundOver) {
  // Worker 1's first incarnation advertises its clients' keys and dies;
  // worker 0 goes on to share keys and waits there.
  Request advertise;
  advertise.mutable_header()->set_job_id("job");
  advertise.mutable_header()->set_worker_id(1);
  advertise.set_phase(Request::ADVERTISE_KEYS);
  advertise.set_weight_bound(WeightBound());
  for (int64_t k = 1; k < kClients; k += 2) {
    v1::SecureClientMessage* c = advertise.add_clients();
    c->set_client(k);
    const secagg::KeyPair a = secagg::NewKeyPair(), b = secagg::NewKeyPair();
    c->set_cipher_public_key(
        std::string(a.public_key.begin(), a.public_key.end()));
    c->set_mask_public_key(
        std::string(b.public_key.begin(), b.public_key.end()));
  }
  std::vector<v1::SecureAggregationResponse> dead(kShards);
  for (int s = 0; s < kShards; ++s) {
    aggregators_[s]->Handle(advertise, &dead[s], [](absl::Status) {});
  }
  std::vector<SecureClients::Outcome> outcomes(2);
  std::thread survivor([&] {
    std::vector<SecureClients::Input> inputs;
    for (int64_t k = 0; k < kClients; k += 2) {
      inputs.push_back({k, values_[k].data(), weights_[k], k % 3 == 0, false});
    }
    SecureOptions o;
    o.enabled = true;
    SecureClients secure(clients_[0].get(), o, 1);
    PsClient::Transfer transfer;
    absl::StatusOr<SecureClients::Outcome> outcome =
        secure.Run(0, WeightBound(), inputs, &transfer);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    outcomes[0] = *outcome;
  });
  absl::SleepFor(absl::Milliseconds(200));
  // Its replacement, incarnation 1, takes the round up: it starts over.
  std::unique_ptr<PsClient> replacement = ClientOf(1, 1);
  std::vector<SecureClients::Input> inputs;
  for (int64_t k = 1; k < kClients; k += 2) {
    inputs.push_back({k, values_[k].data(), weights_[k], k % 3 == 0, false});
  }
  SecureOptions o;
  o.enabled = true;
  SecureClients secure(replacement.get(), o, 1);
  PsClient::Transfer transfer;
  absl::StatusOr<SecureClients::Outcome> outcome =
      secure.Run(0, WeightBound(), inputs, &transfer);
  survivor.join();
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->failed) << outcome->reason;
  EXPECT_FALSE(outcomes[0].failed) << outcomes[0].reason;
  EXPECT_EQ(outcomes[0].aggregated, kClients);
  EXPECT_EQ(aggregators_[0]->restarts(), 1);
  ExpectSumOf({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  // The dead incarnation is refused from now on.
  v1::SecureAggregationResponse response;
  absl::Status refused;
  aggregators_[0]->Handle(advertise, &response,
                          [&](absl::Status s) { refused = std::move(s); });
  EXPECT_THAT(refused.message(), HasSubstr("was replaced by incarnation 1"));
}

TEST_F(SecureAggregatorTest, OnlyShardZeroRoutesSealedShares) {
  // Both workers advertise at shard 1, then one sends it a sealed share.
  std::vector<v1::SecureAggregationResponse> answers(3);
  absl::Status last;
  for (int32_t w = 0; w < kWorkers; ++w) {
    Request advertise;
    advertise.mutable_header()->set_worker_id(w);
    advertise.set_phase(Request::ADVERTISE_KEYS);
    advertise.set_weight_bound(WeightBound());
    v1::SecureClientMessage* c = advertise.add_clients();
    c->set_client(w);
    c->set_cipher_public_key(std::string(32, 'a' + w));
    c->set_mask_public_key(std::string(32, 'c' + w));
    aggregators_[1]->Handle(advertise, &answers[w], [](absl::Status) {});
  }
  ASSERT_EQ(answers[0].keys_size(), 2);
  Request share;
  share.mutable_header()->set_worker_id(0);
  share.set_phase(Request::SHARE_KEYS);
  v1::SecureClientMessage* c = share.add_clients();
  c->set_client(0);
  v1::SealedShare* sealed = c->add_shares();
  sealed->set_from(0);
  sealed->set_to(1);
  sealed->set_sealed("sealed");
  aggregators_[1]->Handle(share, &answers[2],
                          [&](absl::Status s) { last = std::move(s); });
  EXPECT_THAT(last.message(), HasSubstr("does not route them (shard 0 does)"));
}

}  // namespace
}  // namespace descent
