#include "common/federated/robust_aggregation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/federated/client_privacy.h"
#include "common/federated/round_plan.h"
#include "common/hashed_random.h"
#include "glog/logging.h"

namespace descent {
namespace {

using Rule = v1::RobustAggregationConfig;
using Attack = v1::AttackConfig;

int64_t ClientsPerRound(const v1::FederatedConfig& f) {
  return std::min(PerRound(f), f.clients());
}

// The most attackers Krum tolerates among m: 2 f + 2 < m.
int MostByzantine(int64_t m) {
  return static_cast<int>(std::max<int64_t>(0, (m - 3) / 2));
}

double DefaultScale(v1::AttackConfig::Kind kind) {
  return kind == Attack::SCALE ? 10.0 : 1.0;
}

// The median of values[0, n), reordered.
float MedianOf(float* values, int n) {
  const int half = n / 2;
  std::nth_element(values, values + half, values + n);
  const float upper = values[half];
  if (n % 2 == 1) return upper;
  const float lower = *std::max_element(values, values + half);
  return static_cast<float>((static_cast<double>(lower) + upper) / 2);
}

}  // namespace

void ApplyRobustDefaults(v1::JobConfig* config) {
  if (!config->has_federated()) return;
  v1::FederatedConfig* f = config->mutable_federated();
  const int64_t m = f->clients() > 0 ? ClientsPerRound(*f) : 1;
  v1::RobustAggregationConfig* a = f->mutable_aggregation();
  if (!a->has_trim_fraction()) a->set_trim_fraction(0.1);
  if (!a->has_byzantine()) a->set_byzantine(MostByzantine(m));
  if (!a->has_multi_krum_select()) {
    a->set_multi_krum_select(
        static_cast<int32_t>(std::max<int64_t>(1, m - a->byzantine())));
  }
  v1::AttackConfig* attack = f->mutable_attack();
  if (!attack->has_scale()) attack->set_scale(DefaultScale(attack->kind()));
}

std::optional<FieldProblem> FindRobustProblem(const v1::JobConfig& config) {
  if (!config.has_federated()) return std::nullopt;
  const v1::FederatedConfig& f = config.federated();
  const v1::RobustAggregationConfig& a = f.aggregation();
  const v1::AttackConfig& attack = f.attack();
  const int64_t m = ClientsPerRound(f);
  if (auto problem = First(
          {Require(std::isfinite(a.trim_fraction()) && a.trim_fraction() >= 0 &&
                       a.trim_fraction() < 0.5,
                   "federated.aggregation.trim_fraction", "in [0, 0.5)",
                   a.trim_fraction()),
           Require(a.byzantine() >= 0 && a.byzantine() <= MostByzantine(m),
                   "federated.aggregation.byzantine",
                   absl::StrCat("in [0, ", MostByzantine(m),
                                "] (Krum needs 2 f + 2 < the ", m,
                                " clients per round)"),
                   a.byzantine()),
           Require(a.multi_krum_select() >= 1 && a.multi_krum_select() <= m,
                   "federated.aggregation.multi_krum_select",
                   absl::StrCat("in [1, ", m, "]"), a.multi_krum_select()),
           Require(std::isfinite(a.norm_bound()) && a.norm_bound() >= 0,
                   "federated.aggregation.norm_bound", "a finite number >= 0",
                   a.norm_bound()),
           Require(std::isfinite(attack.fraction()) && attack.fraction() >= 0 &&
                       attack.fraction() < 1,
                   "federated.attack.fraction", "in [0, 1)", attack.fraction()),
           Require(std::isfinite(attack.scale()) && attack.scale() > 0 &&
                       attack.scale() <= 1e6,
                   "federated.attack.scale", "in (0, 1e6]", attack.scale())})) {
    return problem;
  }
  const bool krum = a.rule() == Rule::KRUM || a.rule() == Rule::MULTI_KRUM;
  if (krum && config.cluster().num_servers() > 1) {
    return FieldProblem{"federated.aggregation.rule",
                        absl::StrCat("Krum compares whole updates: it needs "
                                     "cluster.num_servers 1, got ",
                                     config.cluster().num_servers())};
  }
  if (a.rule() != Rule::MEAN && config.has_privacy()) {
    return FieldProblem{"federated.aggregation.rule",
                        "privacy calibrates its noise to a mean of clipped "
                        "updates: use rule MEAN (the default) with it"};
  }
  const v1::CommunicationConfig& c = config.train().communication();
  if (a.rule() != Rule::MEAN &&
      (c.encoding() != v1::FLOAT32 || c.top_k_fraction() > 0)) {
    return FieldProblem{"federated.aggregation.rule",
                        "pushes each client's update in float32: leave "
                        "train.communication unset with it"};
  }
  if (attack.kind() == Attack::LABEL_FLIP &&
      config.model().has_linear_regression()) {
    return FieldProblem{"federated.attack.kind",
                        "LABEL_FLIP needs a classifier's labels"};
  }
  return std::nullopt;
}

RobustOptions RobustOptionsOf(const v1::JobConfig& config) {
  const v1::RobustAggregationConfig& a = config.federated().aggregation();
  RobustOptions o;
  switch (a.rule()) {
    case Rule::MEDIAN:
      o.rule = AggregationRule::kMedian;
      break;
    case Rule::TRIMMED_MEAN:
      o.rule = AggregationRule::kTrimmedMean;
      break;
    case Rule::KRUM:
      o.rule = AggregationRule::kKrum;
      break;
    case Rule::MULTI_KRUM:
      o.rule = AggregationRule::kMultiKrum;
      break;
    default:
      o.rule = AggregationRule::kMean;
  }
  o.trim_fraction = a.trim_fraction();
  o.byzantine = a.byzantine();
  o.multi_krum_select = a.multi_krum_select();
  o.norm_bound = a.norm_bound();
  return o;
}

AttackOptions AttackOptionsOf(const v1::JobConfig& config) {
  const v1::AttackConfig& a = config.federated().attack();
  AttackOptions o;
  switch (a.kind()) {
    case Attack::SIGN_FLIP:
      o.kind = AttackKind::kSignFlip;
      break;
    case Attack::SCALE:
      o.kind = AttackKind::kScale;
      break;
    case Attack::GAUSSIAN:
      o.kind = AttackKind::kGaussian;
      break;
    case Attack::LABEL_FLIP:
      o.kind = AttackKind::kLabelFlip;
      break;
    default:
      o.kind = AttackKind::kNone;
  }
  o.fraction = a.fraction();
  o.scale = a.scale();
  return o;
}

std::vector<double> KrumScores(absl::Span<const float* const> updates,
                               int64_t d, int neighbours) {
  const size_t n = updates.size();
  std::vector<double> distance(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      double sum = 0;
      for (int64_t c = 0; c < d; ++c) {
        const double diff = static_cast<double>(updates[i][c]) - updates[j][c];
        sum += diff * diff;
      }
      distance[i * n + j] = distance[j * n + i] = sum;
    }
  }
  std::vector<double> scores(n), others;
  for (size_t i = 0; i < n; ++i) {
    others.clear();
    for (size_t j = 0; j < n; ++j) {
      if (j != i) others.push_back(distance[i * n + j]);
    }
    const size_t k = std::min<size_t>(neighbours, others.size());
    std::partial_sort(others.begin(), others.begin() + k, others.end());
    scores[i] = std::accumulate(others.begin(), others.begin() + k, 0.0);
  }
  return scores;
}

void Aggregate(const RobustOptions& options,
               absl::Span<const float* const> updates, int64_t d, float* out) {
  const int n = static_cast<int>(updates.size());
  CHECK_GE(n, 1);
  auto mean_of = [&](const std::vector<int>& chosen) {
    std::fill(out, out + d, 0.0f);
    for (int i : chosen) {
      for (int64_t c = 0; c < d; ++c) out[c] += updates[i][c];
    }
    const float scale = 1.0f / static_cast<float>(chosen.size());
    for (int64_t c = 0; c < d; ++c) out[c] *= scale;
  };
  switch (options.rule) {
    case AggregationRule::kMean: {
      std::vector<int> all(n);
      std::iota(all.begin(), all.end(), 0);
      mean_of(all);
      return;
    }
    case AggregationRule::kMedian:
    case AggregationRule::kTrimmedMean: {
      const int trim =
          options.rule == AggregationRule::kMedian
              ? 0
              : std::min((n - 1) / 2,
                         static_cast<int>(options.trim_fraction * n));
      std::vector<float> column(n);
      for (int64_t c = 0; c < d; ++c) {
        for (int i = 0; i < n; ++i) column[i] = updates[i][c];
        if (options.rule == AggregationRule::kMedian) {
          out[c] = MedianOf(column.data(), n);
          continue;
        }
        std::sort(column.begin(), column.end());
        double sum = 0;
        for (int i = trim; i < n - trim; ++i) sum += column[i];
        out[c] = static_cast<float>(sum / (n - 2 * trim));
      }
      return;
    }
    case AggregationRule::kKrum:
    case AggregationRule::kMultiKrum: {
      const int f = std::min(options.byzantine, std::max(0, (n - 3) / 2));
      const int neighbours = std::clamp(n - f - 2, 1, std::max(1, n - 1));
      const std::vector<double> scores = KrumScores(updates, d, neighbours);
      std::vector<int> order(n);
      std::iota(order.begin(), order.end(), 0);
      // Ties go to the lower index: the same choice every run.
      std::stable_sort(order.begin(), order.end(),
                       [&](int a, int b) { return scores[a] < scores[b]; });
      const int select = options.rule == AggregationRule::kKrum
                             ? 1
                             : std::clamp(options.multi_krum_select, 1, n);
      mean_of(std::vector<int>(order.begin(), order.begin() + select));
      return;
    }
  }
}

void BoundNorm(double bound, absl::Span<float> update) {
  ClipToNorm(static_cast<float>(bound), update);
}

std::vector<bool> Attackers(const AttackOptions& attack, int64_t clients,
                            uint64_t seed) {
  std::vector<bool> attackers(clients, false);
  if (attack.kind == AttackKind::kNone || attack.fraction <= 0) {
    return attackers;
  }
  std::vector<int64_t> order(clients);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(SplitMix64(seed ^ 0xA77AC4E5ULL));
  std::shuffle(order.begin(), order.end(), rng);
  const auto count = static_cast<int64_t>(
      std::llround(attack.fraction * static_cast<double>(clients)));
  for (int64_t i = 0; i < std::min(count, clients); ++i) {
    attackers[order[i]] = true;
  }
  return attackers;
}

void Tamper(const AttackOptions& attack, uint64_t seed, int64_t round,
            int64_t client, absl::Span<float> delta) {
  const auto scale = static_cast<float>(attack.scale);
  switch (attack.kind) {
    case AttackKind::kSignFlip:
      for (float& x : delta) x *= -scale;
      return;
    case AttackKind::kScale:
      for (float& x : delta) x *= scale;
      return;
    case AttackKind::kGaussian: {
      std::fill(delta.begin(), delta.end(), 0.0f);
      const uint64_t h = SplitMix64(SplitMix64(seed ^ 0x6A055E17ULL) ^
                                    static_cast<uint64_t>(round)) ^
                         static_cast<uint64_t>(client) * 0x9E3779B97F4A7C15ULL;
      AddGaussianNoise(SplitMix64(h), attack.scale, delta);
      return;
    }
    default:
      return;
  }
}

}  // namespace descent
