// Client-level differential privacy for federated rounds (job.proto
// PrivacyConfig): DP-FedAvg's clipping and Gaussian noise (McMahan et al.
// 2018), adaptive clipping (Andrew et al. 2021), and what the Renyi-DP
// accountant (common/privacy/rdp_accountant.h) says a job spends.
//
// Who does what in a round r:
//  - each participating client clips its delta to the round's clip norm C_r
//    (ClipToNorm) and, under LOCAL noise, adds N(0, (z S)^2) to each
//    coordinate (AddGaussianNoise with ClientNoiseSeed);
//  - each worker pushes the mean of its clients' clipped deltas weighted by
//    their count (every client weighs 1) and, with adaptive clipping, how
//    many were within C_r;
//  - each shard, under CENTRAL noise, adds N(0, (z_delta C_r / m)^2) to each
//    coordinate of the mean of the m clients' deltas (ShardNoiseSeed), and
//    with adaptive clipping computes C_{r+1} from the noisy count
//    (NextClipNorm: the same on every shard, whose answers carry it).
#ifndef DESCENT_COMMON_FEDERATED_CLIENT_PRIVACY_H_
#define DESCENT_COMMON_FEDERATED_CLIENT_PRIVACY_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/field_problem.h"
#include "descent/v1/job.pb.h"

namespace descent {

// A job's PrivacyConfig with its defaults resolved.
struct PrivacyOptions {
  bool enabled = false;
  double clip_norm = 0;         // S; with adaptive clipping, C_0
  double noise_multiplier = 0;  // z
  bool local = false;           // LOCAL noise, else CENTRAL
  double target_quantile = 0;   // 0: fixed clipping
  double clip_learning_rate = 0.2;
  double count_stddev = 0;  // sigma_b
  double delta = 0;
  double target_epsilon = 0;  // 0: no budget
  uint64_t noise_seed = 1;
  double sampling_rate = 1;  // SamplingRate
  bool adaptive() const { return target_quantile > 0; }
};

// Fills the absent fields of config->privacy() (delta, noise_seed and the
// adaptive clipping's) with their defaults; nothing without a privacy
// section. Needs the federated defaults applied first.
void ApplyPrivacyDefaults(v1::JobConfig* config);

// The first rule the privacy section breaks (fields from the JobConfig,
// "privacy.clip_norm"); nullopt if it is valid or absent.
std::optional<FieldProblem> FindPrivacyProblem(const v1::JobConfig& config);

// The resolved options of a valid config with defaults applied (enabled
// false without a privacy section).
PrivacyOptions PrivacyOptionsOf(const v1::JobConfig& config);

// DP-SGD's sampling rate: a BSP step's examples, W x train.batch_size,
// over the training examples N, at most 1 (1 for whole-shard batches).
double DpSgdSamplingRate(const v1::JobConfig& config, int64_t train_examples);

// The sampling rate q the accountant uses: the clients a round's attempt
// samples, ceil(m (1 + over_selection)), over the clients K, at most 1.
// Sampling is without replacement: q is the usual approximation by Poisson
// sampling at the same rate (as McMahan et al. 2018 account).
double SamplingRate(const v1::JobConfig& config);

// The noise multiplier of the deltas' sum: z, or under adaptive clipping
// the share the count leaves, (z^-2 - (2 sigma_b)^-2)^(-1/2); 0 for z = 0.
double DeltaNoiseMultiplier(const PrivacyOptions& privacy);

struct Epsilon {
  double classic = 0;  // min over orders of RDP + log(1/delta) / (a - 1)
  double tight = 0;    // Balle et al. 2020
};

// What `rounds` rounds spend at privacy.delta: CENTRAL, the subsampled
// Gaussian mechanism at SamplingRate composed `rounds` times; LOCAL, what
// one client that reported in `rounds` rounds spends (each report the
// Gaussian mechanism, no amplification: the server sees it alone).
Epsilon SpentAfter(const PrivacyOptions& privacy, int64_t rounds);

// privacy.target_epsilon > 0 under CENTRAL: the most rounds whose epsilon
// stays within it (at most 2^40), whatever federated.rounds; nullopt
// otherwise.
std::optional<int64_t> BudgetRounds(const v1::JobConfig& config);
// The same for any options (DP-SGD: steps at its sampling rate).
std::optional<int64_t> BudgetSteps(const PrivacyOptions& options);

// DP-SGD with privacy.target_epsilon, once the training examples N are
// known: the steps the budget allows (BudgetSteps at DpSgdSamplingRate),
// and train.epochs lowered to the whole epochs within them (a BSP epoch is
// ceil(ceil(N / W) / B) steps), logged. nullopt without a budget;
// INVALID_ARGUMENT naming privacy.target_epsilon if it allows no epoch.
absl::StatusOr<std::optional<int64_t>> LimitEpochsToBudget(
    v1::JobConfig* config, int64_t train_examples);

// Lowers federated.rounds to BudgetRounds (a valid config, defaults
// applied); returns the rounds it allows, or nullopt without a budget.
std::optional<int64_t> LimitRoundsToBudget(v1::JobConfig* config);

// Scales `values` to L2 norm at most `clip` (summed in double, in order);
// returns their norm before.
double ClipToNorm(float clip, absl::Span<float> values);

// Adds N(0, stddev^2) to each of `values`, from a generator seeded by
// `seed` (the same seed gives the same noise).
void AddGaussianNoise(uint64_t seed, double stddev, absl::Span<float> values);

// The seed of client k's LOCAL noise in round r.
uint64_t ClientNoiseSeed(const PrivacyOptions& privacy, int64_t round,
                         int64_t client);
// The seed of a shard's CENTRAL noise at version `round` for the slice
// starting at global index `begin`.
uint64_t ShardNoiseSeed(const PrivacyOptions& privacy, int64_t round,
                        int64_t begin);

// Adaptive clipping: the clip norm after a round with clip norm `clip` in
// which `unclipped` of `clients` (> 0) clients' deltas were within it; the
// count's noise comes from (noise_seed, round), the same on every shard.
float NextClipNorm(const PrivacyOptions& privacy, float clip, int64_t unclipped,
                   int64_t clients, int64_t round);

}  // namespace descent

#endif  // DESCENT_COMMON_FEDERATED_CLIENT_PRIVACY_H_
