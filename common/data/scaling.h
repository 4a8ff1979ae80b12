// Per-feature affine scaling of dense features, x -> (x - offset) / scale,
// as models trained by gradient descent want their inputs. The statistics
// are fitted on the training split only and the same transform is then
// applied to every split (train, validation, test), so no information from
// held-out data leaks into training.
//
// A FeatureScaler is immutable once fitted: thread-safe for concurrent
// Apply calls on different data sets.
#ifndef DESCENT_COMMON_DATA_SCALING_H_
#define DESCENT_COMMON_DATA_SCALING_H_

#include <utility>
#include <vector>

#include "common/data/dataset.h"

namespace descent {

enum class ScalingMode {
  // offset = mean, scale = standard deviation (the population one, over n):
  // the training split's columns get mean 0 and standard deviation 1.
  kStandardize,
  // offset = minimum, scale = maximum - minimum: the training split's
  // columns are mapped onto [0, 1]; other splits may fall outside it.
  kMinMax,
};

// For a feature that is constant on the training split (standard deviation
// or range 0), offset is that constant and scale is 1: the feature becomes
// exactly 0 on the training split and x - constant elsewhere.
class FeatureScaler {
 public:
  // Fits one offset and scale per feature of `train` (statistics in double
  // precision). With no examples, every feature gets the identity (offset 0,
  // scale 1).
  static FeatureScaler Fit(const Dataset& train, ScalingMode mode);

  // Replaces every feature x_ij of *data by (x_ij - offset[j]) / scale[j].
  // Labels and targets are left alone. CHECK-fails unless data has the
  // num_features the scaler was fitted on.
  void Apply(Dataset* data) const;

  // One entry per feature.
  const std::vector<float>& offset() const { return offset_; }
  const std::vector<float>& scale() const { return scale_; }

 private:
  FeatureScaler(std::vector<float> offset, std::vector<float> scale)
      : offset_(std::move(offset)), scale_(std::move(scale)) {}

  std::vector<float> offset_;
  std::vector<float> scale_;
};

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_SCALING_H_
