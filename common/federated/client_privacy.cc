#include "common/federated/client_privacy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/data/data_source.h"
#include "common/defaults.h"
#include "common/federated/round_plan.h"
#include "common/hashed_random.h"
#include "common/privacy/rdp_accountant.h"
#include "glog/logging.h"

namespace descent {
namespace {

// Distinct streams of the noise seed, one a purpose.
enum Stream : uint64_t {
  kClientNoise = 1,
  kShardNoise = 2,
  kCountNoise = 3,
};

uint64_t Mix(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b = 0) {
  uint64_t h = SplitMix64(seed ^ SplitMix64(stream));
  h = SplitMix64(h ^ a);
  return SplitMix64(h ^ (b + 0x632BE59BD9B4E019ULL));
}

std::optional<FieldProblem> Finite(const char* field, double value, double low,
                                   double high) {
  return Require(std::isfinite(value) && value >= low && value <= high,
                 absl::StrCat("privacy.", field),
                 absl::StrCat("in [", low, ", ", high, "]"), value);
}

// DP-SGD (privacy without federated): what it cannot be combined with.
std::optional<FieldProblem> FindDpSgdProblem(const v1::JobConfig& config) {
  const v1::PrivacyConfig& p = config.privacy();
  if (p.noise() == v1::PrivacyConfig::LOCAL) {
    return FieldProblem{"privacy.noise",
                        "LOCAL noise is a federated client's: DP-SGD's "
                        "noise goes on each step's mean (CENTRAL)"};
  }
  if (p.adaptive_clipping().target_quantile() != 0) {
    return FieldProblem{"privacy.adaptive_clipping",
                        "is federated only (the clients' delta norms); "
                        "DP-SGD clips each example to clip_norm"};
  }
  if (p.target_epsilon() > 0 && p.noise_multiplier() == 0) {
    return FieldProblem{"privacy.target_epsilon",
                        "needs noise_multiplier > 0 (without noise epsilon "
                        "is infinite)"};
  }
  if (config.train().consistency() != v1::BSP) {
    return FieldProblem{"train.consistency",
                        "DP-SGD needs BSP: the shards add the noise to each "
                        "step's mean over every worker's clipped examples"};
  }
  if (IsSparseModel(config.model())) {
    return FieldProblem{"privacy",
                        "DP-SGD needs a dense model (each example's whole "
                        "gradient is clipped)"};
  }
  const v1::CommunicationConfig& c = config.train().communication();
  if (c.encoding() != v1::FLOAT32 || c.top_k_fraction() > 0 ||
      c.push_every() > 1) {
    return FieldProblem{"train.communication",
                        "leave it unset with DP-SGD: error feedback and "
                        "local steps would carry an example's gradient past "
                        "its clip into other steps"};
  }
  return std::nullopt;
}

}  // namespace

void ApplyPrivacyDefaults(v1::JobConfig* config) {
  if (!config->has_privacy()) return;
  v1::PrivacyConfig* p = config->mutable_privacy();
  const v1::FederatedConfig& f = config->federated();
  if (!p->has_delta() && f.clients() > 0) {
    p->set_delta(1.0 / std::pow(static_cast<double>(f.clients()), 1.1));
  }
  if (!p->has_delta() && !config->has_federated()) {
    // DP-SGD: the examples are unknown until the data is read; TF
    // Privacy's MNIST figures use 1e-5.
    p->set_delta(defaults::kDpSgdDelta);
  }
  if (!p->has_noise_seed()) {
    p->set_noise_seed(f.has_seed() ? f.seed() : config->train().seed());
  }
  if (p->adaptive_clipping().target_quantile() > 0) {
    v1::AdaptiveClippingConfig* a = p->mutable_adaptive_clipping();
    if (!a->has_clip_learning_rate()) {
      a->set_clip_learning_rate(defaults::kAdaptiveClipLearningRate);
    }
    if (!a->has_count_stddev() && f.clients() > 0) {
      a->set_count_stddev(
          static_cast<double>(std::min(PerRound(f), f.clients())) / 20.0);
    }
  }
}

std::optional<FieldProblem> FindPrivacyProblem(const v1::JobConfig& config) {
  if (!config.has_privacy()) return std::nullopt;
  const v1::PrivacyConfig& p = config.privacy();
  if (auto problem = First(
          {Require(std::isfinite(p.clip_norm()) && p.clip_norm() > 0 &&
                       p.clip_norm() <= 1e30,
                   "privacy.clip_norm", "a finite number > 0", p.clip_norm()),
           Finite("noise_multiplier", p.noise_multiplier(), 0, 1e6),
           Require(std::isfinite(p.delta()) && p.delta() > 0 && p.delta() < 1,
                   "privacy.delta", "in (0, 1)", p.delta()),
           Finite("target_epsilon", p.target_epsilon(), 0, 1e6)})) {
    return problem;
  }
  if (!config.has_federated()) {
    if (auto problem = FindDpSgdProblem(config)) return problem;
  }
  const v1::AdaptiveClippingConfig& a = p.adaptive_clipping();
  const bool adaptive = a.target_quantile() != 0;
  if (adaptive) {
    if (auto problem = First(
            {Require(std::isfinite(a.target_quantile()) &&
                         a.target_quantile() > 0 && a.target_quantile() < 1,
                     "privacy.adaptive_clipping.target_quantile", "in (0, 1)",
                     a.target_quantile()),
             Require(std::isfinite(a.clip_learning_rate()) &&
                         a.clip_learning_rate() > 0 &&
                         a.clip_learning_rate() <= 10,
                     "privacy.adaptive_clipping.clip_learning_rate",
                     "in (0, 10]", a.clip_learning_rate()),
             Require(std::isfinite(a.count_stddev()) && a.count_stddev() > 0,
                     "privacy.adaptive_clipping.count_stddev",
                     "a finite number > 0", a.count_stddev())})) {
      return problem;
    }
    if (p.noise() == v1::PrivacyConfig::LOCAL) {
      return FieldProblem{"privacy.adaptive_clipping",
                          "needs CENTRAL noise (the shards count the clients "
                          "within the clip norm)"};
    }
    if (p.noise_multiplier() > 0 &&
        2 * a.count_stddev() <= p.noise_multiplier()) {
      return FieldProblem{
          "privacy.adaptive_clipping.count_stddev",
          absl::StrCat("must exceed noise_multiplier / 2 (",
                       p.noise_multiplier() / 2,
                       ") for the deltas to keep some of the noise, got ",
                       a.count_stddev())};
    }
  }
  if (p.target_epsilon() > 0 && config.has_federated()) {
    if (p.noise() == v1::PrivacyConfig::LOCAL) {
      return FieldProblem{"privacy.target_epsilon",
                          "needs CENTRAL noise (a LOCAL client's spending "
                          "depends on how often it is sampled)"};
    }
    if (p.noise_multiplier() == 0) {
      return FieldProblem{"privacy.target_epsilon",
                          "needs noise_multiplier > 0 (without noise epsilon "
                          "is infinite)"};
    }
    const Epsilon one = SpentAfter(PrivacyOptionsOf(config), 1);
    if (one.classic > p.target_epsilon()) {
      return FieldProblem{
          "privacy.target_epsilon",
          absl::StrFormat("%g allows no round: one round spends %.4g at "
                          "delta %g",
                          p.target_epsilon(), one.classic, p.delta())};
    }
  }
  return std::nullopt;
}

PrivacyOptions PrivacyOptionsOf(const v1::JobConfig& config) {
  PrivacyOptions o;
  if (!config.has_privacy()) return o;
  const v1::PrivacyConfig& p = config.privacy();
  o.enabled = true;
  o.clip_norm = p.clip_norm();
  o.noise_multiplier = p.noise_multiplier();
  o.local = p.noise() == v1::PrivacyConfig::LOCAL;
  o.target_quantile = p.adaptive_clipping().target_quantile();
  o.clip_learning_rate = p.adaptive_clipping().clip_learning_rate();
  o.count_stddev = p.adaptive_clipping().count_stddev();
  o.delta = p.delta();
  o.target_epsilon = p.target_epsilon();
  o.noise_seed = p.noise_seed();
  // DP-SGD's needs the training examples: DpSgdSamplingRate.
  o.sampling_rate = config.has_federated() ? SamplingRate(config) : 0;
  return o;
}

double SamplingRate(const v1::JobConfig& config) {
  const v1::FederatedConfig& f = config.federated();
  const int64_t m = std::min(PerRound(f), f.clients());
  const double sampled = std::ceil(static_cast<double>(m) *
                                   (1.0 + std::max(0.0, f.over_selection())));
  return std::min(1.0, sampled / static_cast<double>(f.clients()));
}

absl::StatusOr<std::optional<int64_t>> LimitEpochsToBudget(
    v1::JobConfig* config, int64_t train_examples) {
  if (!config->has_privacy() || config->has_federated() ||
      config->privacy().target_epsilon() <= 0) {
    return std::optional<int64_t>();
  }
  PrivacyOptions o = PrivacyOptionsOf(*config);
  o.sampling_rate = DpSgdSamplingRate(*config, train_examples);
  const std::optional<int64_t> budget = BudgetSteps(o);
  if (!budget.has_value()) return std::optional<int64_t>();
  const int64_t workers = std::max(1, config->cluster().num_workers());
  const int64_t shard = (train_examples + workers - 1) / workers;
  const int64_t batch = config->train().batch_size();
  const int64_t per_epoch = batch > 0 ? (shard + batch - 1) / batch : 1;
  const int64_t epochs = *budget / per_epoch;
  if (epochs < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "privacy.target_epsilon: %g allows %d steps at sampling rate %g, "
        "fewer than one epoch (%d steps)",
        o.target_epsilon, *budget, o.sampling_rate, per_epoch));
  }
  if (epochs < config->train().epochs()) {
    LOG(INFO) << "privacy.target_epsilon " << o.target_epsilon << " allows "
              << *budget << " steps, " << epochs << " of the "
              << config->train().epochs()
              << " epochs: train.epochs is lowered to " << epochs;
    config->mutable_train()->set_epochs(static_cast<int32_t>(epochs));
  }
  return budget;
}

double DpSgdSamplingRate(const v1::JobConfig& config, int64_t train_examples) {
  const int64_t batch = config.train().batch_size();
  if (batch <= 0 || train_examples <= 0) return 1.0;  // whole shards
  const double step =
      static_cast<double>(batch) * std::max(1, config.cluster().num_workers());
  return std::min(1.0, step / static_cast<double>(train_examples));
}

double DeltaNoiseMultiplier(const PrivacyOptions& privacy) {
  const double z = privacy.noise_multiplier;
  if (z == 0 || !privacy.adaptive()) return z;
  const double count = 2 * privacy.count_stddev;
  return 1.0 / std::sqrt(1.0 / (z * z) - 1.0 / (count * count));
}

Epsilon SpentAfter(const PrivacyOptions& o, int64_t rounds) {
  if (rounds <= 0) return {0, 0};
  const std::vector<double> orders = DefaultRdpOrders();
  const double q = o.local ? 1.0 : o.sampling_rate;
  const std::vector<double> rdp =
      ComputeRdp(q, o.noise_multiplier, rounds, orders);
  return {EpsilonClassic(orders, rdp, o.delta).epsilon,
          EpsilonTight(orders, rdp, o.delta).epsilon};
}

std::optional<int64_t> BudgetRounds(const v1::JobConfig& config) {
  if (!config.has_federated()) return std::nullopt;
  return BudgetSteps(PrivacyOptionsOf(config));
}

std::optional<int64_t> BudgetSteps(const PrivacyOptions& o) {
  if (!o.enabled || o.local || o.target_epsilon <= 0) return std::nullopt;
  // RDP composes by adding, and epsilon grows with the rounds: the largest
  // within budget by doubling, then bisection.
  const std::vector<double> orders = DefaultRdpOrders();
  const std::vector<double> one =
      ComputeRdp(o.sampling_rate, o.noise_multiplier, 1, orders);
  auto within = [&](int64_t rounds) {
    std::vector<double> rdp = one;
    for (double& x : rdp) x *= static_cast<double>(rounds);
    return EpsilonClassic(orders, rdp, o.delta).epsilon <= o.target_epsilon;
  };
  constexpr int64_t kMostRounds = int64_t{1} << 40;
  int64_t low = 0, high = 1;
  while (high < kMostRounds && within(high)) {
    low = high;
    high *= 2;
  }
  if (high >= kMostRounds && within(kMostRounds)) return kMostRounds;
  while (high - low > 1) {
    const int64_t mid = low + (high - low) / 2;
    (within(mid) ? low : high) = mid;
  }
  return low;
}

std::optional<int64_t> LimitRoundsToBudget(v1::JobConfig* config) {
  const std::optional<int64_t> allowed = BudgetRounds(*config);
  if (allowed.has_value() && *allowed < config->federated().rounds()) {
    LOG(INFO) << "privacy.target_epsilon " << config->privacy().target_epsilon()
              << " allows " << *allowed << " of the "
              << config->federated().rounds()
              << " rounds: federated.rounds is lowered to " << *allowed;
    config->mutable_federated()->set_rounds(*allowed);
  }
  return allowed;
}

double ClipToNorm(float clip, absl::Span<float> values) {
  double sum = 0;
  for (float v : values) sum += static_cast<double>(v) * v;
  const double norm = std::sqrt(sum);
  if (norm > clip) {
    const auto scale = static_cast<float>(clip / norm);
    for (float& v : values) v *= scale;
  }
  return norm;
}

void AddGaussianNoise(uint64_t seed, double stddev, absl::Span<float> values) {
  if (stddev <= 0) return;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, stddev);
  for (float& v : values) v += static_cast<float>(normal(rng));
}

uint64_t ClientNoiseSeed(const PrivacyOptions& privacy, int64_t round,
                         int64_t client) {
  return Mix(privacy.noise_seed, kClientNoise, static_cast<uint64_t>(round),
             static_cast<uint64_t>(client));
}

uint64_t ShardNoiseSeed(const PrivacyOptions& privacy, int64_t round,
                        int64_t begin) {
  return Mix(privacy.noise_seed, kShardNoise, static_cast<uint64_t>(round),
             static_cast<uint64_t>(begin));
}

float NextClipNorm(const PrivacyOptions& privacy, float clip, int64_t unclipped,
                   int64_t clients, int64_t round) {
  CHECK_GT(clients, 0);
  const uint64_t h =
      Mix(privacy.noise_seed, kCountNoise, static_cast<uint64_t>(round));
  const double z = BoxMuller(UnitInterval(h), UnitInterval(SplitMix64(h)));
  const double fraction =
      (static_cast<double>(unclipped) + privacy.count_stddev * z) /
      static_cast<double>(clients);
  const double next = static_cast<double>(clip) *
                      std::exp(-privacy.clip_learning_rate *
                               (fraction - privacy.target_quantile));
  // A float that stays finite and positive whatever the noise drew.
  return static_cast<float>(std::clamp(next, 1e-30, 1e30));
}

}  // namespace descent
