#include "common/federated/round_plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/data/data_source.h"
#include "common/defaults.h"
#include "common/hashed_random.h"
#include "common/status_macros.h"

namespace descent {
namespace {

using defaults::kFederatedClientFraction;

// Distinct streams of the job's seed, one a purpose.
enum Stream : uint64_t {
  kSampling = 1,
  kDropout = 2,
  kSpeed = 3,
  kShuffle = 4,
  kLocal = 5,
};

uint64_t Mix(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b = 0,
             uint64_t c = 0) {
  uint64_t h = SplitMix64(seed ^ SplitMix64(stream));
  h = SplitMix64(h ^ a);
  h = SplitMix64(h ^ (b + 0x632BE59BD9B4E019ULL));
  return SplitMix64(h ^ (c + 0x8CB92BA72F3D8DD7ULL));
}

PartitionKind KindOf(v1::ClientPartitionConfig::Kind kind) {
  switch (kind) {
    case v1::ClientPartitionConfig::DIRICHLET:
      return PartitionKind::kDirichlet;
    case v1::ClientPartitionConfig::PATHOLOGICAL:
      return PartitionKind::kPathological;
    case v1::ClientPartitionConfig::QUANTITY_SKEW:
      return PartitionKind::kQuantitySkew;
    default:
      return PartitionKind::kIid;
  }
}

std::optional<FieldProblem> InRange(const char* field, double value, double low,
                                    double high) {
  return Require(std::isfinite(value) && value >= low && value <= high,
                 absl::StrCat("federated.", field),
                 absl::StrCat("in [", low, ", ", high, "]"), value);
}

// `count` distinct ids in [0, k), ascending (Floyd's algorithm: O(count)).
std::vector<int64_t> Sample(int64_t k, int64_t count, std::mt19937_64& rng) {
  absl::flat_hash_set<int64_t> chosen;
  chosen.reserve(count);
  for (int64_t j = k - count; j < k; ++j) {
    const int64_t t = std::uniform_int_distribution<int64_t>(0, j)(rng);
    if (!chosen.insert(t).second) chosen.insert(j);
  }
  std::vector<int64_t> out(chosen.begin(), chosen.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int64_t PerRound(const v1::FederatedConfig& f) {
  if (f.clients_per_round() > 0) return f.clients_per_round();
  const double fraction =
      f.has_client_fraction() ? f.client_fraction() : kFederatedClientFraction;
  return std::max<int64_t>(
      1, static_cast<int64_t>(std::llround(fraction * f.clients())));
}

void ApplyFederatedDefaults(v1::JobConfig* config) {
  if (!config->has_federated()) return;
  v1::FederatedConfig* f = config->mutable_federated();
  if (!f->has_client_fraction()) {
    f->set_client_fraction(kFederatedClientFraction);
  }
  if (!f->has_rounds()) f->set_rounds(defaults::kFederatedRounds);
  if (!f->has_local_epochs()) {
    f->set_local_epochs(defaults::kFederatedLocalEpochs);
  }
  if (!f->has_local_batch_size()) {
    f->set_local_batch_size(defaults::kFederatedLocalBatchSize);
  }
  if (!f->has_local_learning_rate()) {
    f->set_local_learning_rate(defaults::kFederatedLocalLearningRate);
  }
  if (!f->has_eval_every_rounds()) {
    f->set_eval_every_rounds(defaults::kFederatedEvalEveryRounds);
  }
  if (!f->has_seed()) f->set_seed(config->train().seed());
  if (!f->has_speed_mean()) f->set_speed_mean(defaults::kFederatedSpeedMean);
  if (!f->has_min_reports()) {
    f->set_min_reports(defaults::kFederatedMinReports);
  }
  if (!f->has_max_round_attempts()) {
    f->set_max_round_attempts(defaults::kFederatedMaxRoundAttempts);
  }
  v1::ClientPartitionConfig* p = f->mutable_partition();
  if (!p->has_alpha()) p->set_alpha(defaults::kPartitionAlpha);
  if (!p->has_min_client_size()) {
    p->set_min_client_size(defaults::kPartitionMinClientSize);
  }
  if (!p->has_shards_per_client()) {
    p->set_shards_per_client(defaults::kPartitionShardsPerClient);
  }
  if (!p->has_exponent()) p->set_exponent(defaults::kPartitionExponent);
}

std::optional<FieldProblem> FindFederatedProblem(const v1::JobConfig& config) {
  if (!config.has_federated()) return std::nullopt;
  const v1::FederatedConfig& f = config.federated();
  if (f.clients() <= 0) {
    return FieldProblem{"federated.clients",
                        absl::StrCat("is required: the simulated clients K, "
                                     "at least 1, got ",
                                     f.clients())};
  }
  const double kMax = 1e9;
  if (auto problem = First(
          {InRange("clients", f.clients(), 1, kMax),
           InRange("client_fraction", f.client_fraction(), 0, 1),
           InRange("clients_per_round", f.clients_per_round(), 0, f.clients()),
           InRange("rounds", f.rounds(), 1, kMax),
           InRange("local_epochs", f.local_epochs(), 1, 10000),
           InRange("local_batch_size", f.local_batch_size(), 0, 1 << 20),
           Require(std::isfinite(f.local_learning_rate()) &&
                       f.local_learning_rate() > 0,
                   "federated.local_learning_rate", "a finite number > 0",
                   f.local_learning_rate()),
           Require(f.local_momentum() >= 0 && f.local_momentum() < 1,
                   "federated.local_momentum", "in [0, 1)", f.local_momentum()),
           InRange("proximal_mu", f.proximal_mu(), 0, 1e6),
           InRange("eval_every_rounds", f.eval_every_rounds(), 0, kMax),
           InRange("dropout_probability", f.dropout_probability(), 0, 1),
           Require(std::isfinite(f.speed_mean()) && f.speed_mean() > 0,
                   "federated.speed_mean", "a finite number > 0",
                   f.speed_mean()),
           InRange("speed_sigma", f.speed_sigma(), 0, 10),
           InRange("round_deadline_seconds", f.round_deadline_seconds(), 0,
                   1e12),
           InRange("min_reports", f.min_reports(), 1, f.clients()),
           InRange("max_round_attempts", f.max_round_attempts(), 1, 1000),
           InRange("over_selection", f.over_selection(), 0, 10),
           InRange("client_eval_fraction", f.client_eval_fraction(), 0,
                   0.9)})) {
    return problem;
  }
  if (f.client_fraction() == 0 && f.clients_per_round() == 0) {
    return FieldProblem{"federated.client_fraction",
                        "must be > 0 unless clients_per_round is set"};
  }
  const int64_t m = PerRound(f);
  if (f.min_reports() > m) {
    return FieldProblem{"federated.min_reports",
                        absl::StrCat("must be at most the clients per round (",
                                     m, "), got ", f.min_reports())};
  }
  const v1::ClientPartitionConfig& p = f.partition();
  if (auto problem = First(
          {Require(std::isfinite(p.alpha()) && p.alpha() > 0,
                   "federated.partition.alpha", "a finite number > 0",
                   p.alpha()),
           Require(p.min_client_size() >= 0 && p.min_client_size() <= 1e9,
                   "federated.partition.min_client_size", "in [0, 1e9]",
                   p.min_client_size()),
           Require(p.shards_per_client() >= 1 && p.shards_per_client() <= 1000,
                   "federated.partition.shards_per_client", "in [1, 1000]",
                   p.shards_per_client()),
           Require(std::isfinite(p.exponent()) && p.exponent() > 0,
                   "federated.partition.exponent", "a finite number > 0",
                   p.exponent())})) {
    return problem;
  }
  if (config.cluster().num_workers() > f.clients()) {
    return FieldProblem{
        "cluster.num_workers",
        absl::StrCat("a federated job hosts its ", f.clients(),
                     " clients on its workers: at most that many, got ",
                     config.cluster().num_workers())};
  }
  if (config.cluster().max_workers() > config.cluster().num_workers()) {
    return FieldProblem{"cluster.max_workers",
                        "a federated job's clients are hosted by its "
                        "num_workers workers: none can join (leave it unset)"};
  }
  if (config.train().early_stopping().patience() > 0) {
    return FieldProblem{"train.early_stopping",
                        "federated jobs evaluate per round "
                        "(federated.eval_every_rounds), not for early "
                        "stopping"};
  }
  if (config.train().consistency() != v1::BSP) {
    return FieldProblem{"train.consistency",
                        "a federated round is a BSP step: leave it unset or "
                        "BSP"};
  }
  if (IsSparseModel(config.model())) {
    return FieldProblem{"federated",
                        "needs a dense model (the MLP, a CNN or a linear "
                        "model); sparse models train from sparse tables"};
  }
  return std::nullopt;
}

FederatedOptions FederatedOptionsOf(const v1::JobConfig& config) {
  const v1::FederatedConfig& f = config.federated();
  FederatedOptions o;
  o.clients = f.clients();
  o.clients_per_round = std::min<int64_t>(PerRound(f), f.clients());
  o.rounds = f.rounds();
  o.local_epochs = f.local_epochs();
  o.local_batch_size = f.local_batch_size();
  o.local_learning_rate = static_cast<float>(f.local_learning_rate());
  o.local_momentum = static_cast<float>(f.local_momentum());
  o.proximal_mu = static_cast<float>(f.proximal_mu());
  o.eval_every_rounds = f.eval_every_rounds();
  o.seed = f.seed();
  const v1::ClientPartitionConfig& p = f.partition();
  o.partition.kind = KindOf(p.kind());
  o.partition.clients = f.clients();
  o.partition.alpha = p.alpha();
  o.partition.min_client_size = p.min_client_size();
  o.partition.shards_per_client = p.shards_per_client();
  o.partition.exponent = p.exponent();
  o.partition.seed = f.seed();
  o.dropout_probability = f.dropout_probability();
  o.speed_mean = f.speed_mean();
  o.speed_sigma = f.speed_sigma();
  o.round_deadline_seconds = f.round_deadline_seconds();
  o.min_reports = f.min_reports();
  o.max_round_attempts = f.max_round_attempts();
  o.over_selection = f.over_selection();
  o.client_eval_fraction = f.client_eval_fraction();
  o.privacy = PrivacyOptionsOf(config);
  o.robust = RobustOptionsOf(config);
  o.attack = AttackOptionsOf(config);
  o.secure = SecureOptionsOf(config);
  return o;
}

uint64_t LocalSeed(const FederatedOptions& options, int64_t round,
                   int64_t client) {
  return Mix(options.seed, kLocal, static_cast<uint64_t>(round),
             static_cast<uint64_t>(client));
}

double ClientSpeed(const FederatedOptions& options, int64_t client) {
  if (options.speed_sigma == 0) return options.speed_mean;
  const uint64_t h = Mix(options.seed, kSpeed, static_cast<uint64_t>(client));
  const double z = BoxMuller(UnitInterval(h), UnitInterval(SplitMix64(h)));
  return options.speed_mean * std::exp(options.speed_sigma * z);
}

RoundPlan PlanRound(const FederatedOptions& options,
                    absl::Span<const int64_t> train_sizes, int64_t round) {
  RoundPlan plan;
  const int64_t k = static_cast<int64_t>(train_sizes.size());
  const int64_t m = std::min(options.clients_per_round, k);
  const int64_t asked = std::min<int64_t>(
      k, static_cast<int64_t>(
             std::ceil(static_cast<double>(m) * (1 + options.over_selection))));
  const double deadline = options.round_deadline_seconds;
  for (int attempt = 0; attempt < options.max_round_attempts; ++attempt) {
    ++plan.attempts;
    std::mt19937_64 rng(Mix(options.seed, kSampling,
                            static_cast<uint64_t>(round),
                            static_cast<uint64_t>(attempt)));
    const std::vector<int64_t> sampled = Sample(k, asked, rng);
    plan.sampled += asked;
    struct Report {
      double seconds;
      int64_t client;
    };
    std::vector<Report> reports;
    double waited = 0;  // the slowest report that came, in time or not
    for (const int64_t c : sampled) {
      if (options.dropout_probability > 0 &&
          UnitInterval(Mix(options.seed, kDropout, static_cast<uint64_t>(round),
                           static_cast<uint64_t>(attempt),
                           static_cast<uint64_t>(c))) <
              options.dropout_probability) {
        ++plan.dropped;
        continue;
      }
      const double seconds = options.local_epochs *
                             static_cast<double>(train_sizes[c]) /
                             ClientSpeed(options, c);
      waited = std::max(waited, seconds);
      if (deadline > 0 && seconds > deadline) {
        ++plan.late;
        continue;
      }
      reports.push_back({seconds, c});
    }
    std::sort(reports.begin(), reports.end(),
              [](const Report& a, const Report& b) {
                return a.seconds != b.seconds ? a.seconds < b.seconds
                                              : a.client < b.client;
              });
    if (static_cast<int64_t>(reports.size()) > m) {
      plan.late += static_cast<int64_t>(reports.size()) - m;
      reports.resize(m);
    }
    if (static_cast<int64_t>(reports.size()) >= options.min_reports) {
      plan.simulated_seconds += reports.empty() ? 0 : reports.back().seconds;
      for (const Report& r : reports) plan.participants.push_back(r.client);
      std::sort(plan.participants.begin(), plan.participants.end());
      return plan;
    }
    // Too few: the round waited for its deadline (or its last report).
    plan.simulated_seconds += deadline > 0 ? deadline : waited;
  }
  return plan;
}

absl::StatusOr<ClientData> MakeClientData(const FederatedOptions& options,
                                          absl::Span<const int32_t> labels,
                                          int num_classes) {
  ClientData data;
  ASSIGN_OR_RETURN(
      data.partition,
      PartitionClients(labels, std::max(1, num_classes), options.partition));
  const int64_t k = data.partition.clients();
  data.train_sizes.resize(k);
  for (int64_t c = 0; c < k; ++c) {
    const int64_t begin = data.partition.offsets[c];
    const int64_t n = data.partition.size(c);
    std::mt19937_64 rng(Mix(options.seed, kShuffle, static_cast<uint64_t>(c)));
    std::shuffle(data.partition.indices.begin() + begin,
                 data.partition.indices.begin() + begin + n, rng);
    int64_t held = 0;
    if (options.client_eval_fraction > 0 && n >= 2) {
      held = std::max<int64_t>(
          1, static_cast<int64_t>(options.client_eval_fraction * n));
      held = std::min(held, n - 1);
    }
    data.train_sizes[c] = n - held;
  }
  return data;
}

}  // namespace descent
