#include "common/data/scaling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "glog/logging.h"

namespace descent {
namespace {

// Per-feature statistics of a data set, accumulated in double precision.
struct ColumnStats {
  std::vector<double> min, max, mean, stddev;
};

ColumnStats ComputeStats(const Dataset& data) {
  const int64_t n = data.num_examples, d = data.num_features;
  ColumnStats stats{
      std::vector<double>(d, std::numeric_limits<double>::max()),
      std::vector<double>(d, std::numeric_limits<double>::lowest()),
      std::vector<double>(d, 0.0), std::vector<double>(d, 0.0)};
  for (int64_t i = 0; i < n; ++i) {
    const float* x = data.example(i);
    for (int64_t j = 0; j < d; ++j) {
      stats.min[j] = std::min<double>(stats.min[j], x[j]);
      stats.max[j] = std::max<double>(stats.max[j], x[j]);
      stats.mean[j] += x[j];
    }
  }
  for (double& mean : stats.mean) mean /= n;
  // A second pass for the variance: sums of squared deviations do not
  // cancel catastrophically as E[x^2] - E[x]^2 can.
  for (int64_t i = 0; i < n; ++i) {
    const float* x = data.example(i);
    for (int64_t j = 0; j < d; ++j) {
      const double deviation = x[j] - stats.mean[j];
      stats.stddev[j] += deviation * deviation;
    }
  }
  for (double& s : stats.stddev) s = std::sqrt(s / n);
  return stats;
}

}  // namespace

FeatureScaler FeatureScaler::Fit(const Dataset& train, ScalingMode mode) {
  const int64_t d = train.num_features;
  std::vector<float> offset(d, 0.0f), scale(d, 1.0f);
  if (train.num_examples == 0) return FeatureScaler(offset, scale);
  const ColumnStats stats = ComputeStats(train);
  for (int64_t j = 0; j < d; ++j) {
    // min == max is the exact test for a constant column; its offset is the
    // constant itself, so the column becomes exactly 0.
    if (stats.min[j] == stats.max[j]) {
      offset[j] = static_cast<float>(stats.min[j]);
    } else if (mode == ScalingMode::kStandardize) {
      offset[j] = static_cast<float>(stats.mean[j]);
      scale[j] = static_cast<float>(stats.stddev[j]);
    } else {
      offset[j] = static_cast<float>(stats.min[j]);
      scale[j] = static_cast<float>(stats.max[j] - stats.min[j]);
    }
    // A spread that float cannot hold (underflow to 0, overflow) is left
    // unscaled rather than turned into a division by 0 or infinity.
    if (!(scale[j] > 0.0f) || std::isinf(scale[j])) scale[j] = 1.0f;
  }
  return FeatureScaler(std::move(offset), std::move(scale));
}

void FeatureScaler::Apply(Dataset* data) const {
  const int64_t d = static_cast<int64_t>(offset_.size());
  CHECK_EQ(data->num_features, d)
      << "scaler was fitted on " << d << " features";
  for (int64_t i = 0; i < data->num_examples; ++i) {
    float* x = data->features.data() + i * d;
    for (int64_t j = 0; j < d; ++j) x[j] = (x[j] - offset_[j]) / scale_[j];
  }
}

}  // namespace descent
