#include "common/federated/secure_config.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/federated/round_plan.h"
#include "common/hashed_random.h"

namespace descent {

void ApplySecureDefaults(v1::JobConfig* config) {
  if (!config->has_federated() ||
      !config->federated().has_secure_aggregation()) {
    return;
  }
  v1::SecureAggregationConfig* s =
      config->mutable_federated()->mutable_secure_aggregation();
  if (!s->has_threshold()) s->set_threshold(0.5);
  if (!s->has_clip_range()) {
    const double clip_norm = config->privacy().clip_norm();
    s->set_clip_range(config->has_privacy() && clip_norm > 0 ? clip_norm : 1.0);
  }
}

std::optional<FieldProblem> FindSecureProblem(const v1::JobConfig& config) {
  if (!config.has_federated() || !config.federated().has_secure_aggregation()) {
    return std::nullopt;
  }
  const v1::FederatedConfig& f = config.federated();
  const v1::SecureAggregationConfig& s = f.secure_aggregation();
  if (!s.enabled()) {
    return FieldProblem{"federated.secure_aggregation.enabled",
                        "must be true in a secure_aggregation section (or "
                        "leave the section out)"};
  }
  if (auto problem = First(
          {Require(std::isfinite(s.threshold()) && s.threshold() >= 0.5 &&
                       s.threshold() < 1,
                   "federated.secure_aggregation.threshold", "in [0.5, 1)",
                   s.threshold()),
           Require(std::isfinite(s.clip_range()) && s.clip_range() > 0 &&
                       s.clip_range() <= 1e6,
                   "federated.secure_aggregation.clip_range", "in (0, 1e6]",
                   s.clip_range()),
           Require(std::isfinite(s.dropout_fraction()) &&
                       s.dropout_fraction() >= 0 && s.dropout_fraction() < 1,
                   "federated.secure_aggregation.dropout_fraction", "in [0, 1)",
                   s.dropout_fraction())})) {
    return problem;
  }
  const int64_t m = std::min(PerRound(f), f.clients());
  if (m < 2 || m > secagg::kMaxClients) {
    return FieldProblem{
        "federated.secure_aggregation",
        absl::StrCat("needs 2..", secagg::kMaxClients,
                     " clients per round (the sum of one client's update is "
                     "that update; Shamir shares are numbered by a byte), got ",
                     m)};
  }
  if (f.aggregation().rule() != v1::RobustAggregationConfig::MEAN) {
    return FieldProblem{"federated.secure_aggregation",
                        "the shards see only the sum of the masked updates: "
                        "use aggregation rule MEAN (the default) with it"};
  }
  const v1::CommunicationConfig& c = config.train().communication();
  if (c.encoding() != v1::FLOAT32 || c.top_k_fraction() > 0) {
    return FieldProblem{"federated.secure_aggregation",
                        "masked updates are words of Z_(2^32), not floats to "
                        "compress: leave train.communication unset with it"};
  }
  return std::nullopt;
}

std::vector<int64_t> SecureDropouts(const SecureOptions& options, uint64_t seed,
                                    int64_t round,
                                    const std::vector<int64_t>& clients) {
  const auto count = static_cast<size_t>(std::llround(
      options.dropout_fraction * static_cast<double>(clients.size())));
  if (count == 0) return {};
  std::vector<int64_t> order = clients;
  std::mt19937_64 rng(SplitMix64(seed ^ SplitMix64(0x5EC466D509ULL)) ^
                      SplitMix64(static_cast<uint64_t>(round)));
  for (size_t i = 0; i < count && i + 1 < order.size(); ++i) {
    std::uniform_int_distribution<size_t> pick(i, order.size() - 1);
    std::swap(order[i], order[pick(rng)]);
  }
  order.resize(std::min(count, order.size()));
  std::sort(order.begin(), order.end());
  return order;
}

SecureOptions SecureOptionsOf(const v1::JobConfig& config) {
  SecureOptions o;
  if (!config.has_federated() || !config.federated().has_secure_aggregation()) {
    return o;
  }
  const v1::SecureAggregationConfig& s =
      config.federated().secure_aggregation();
  o.enabled = s.enabled();
  o.threshold = s.threshold();
  o.clip_range = s.clip_range();
  o.dropout_fraction = s.dropout_fraction();
  return o;
}

}  // namespace descent
