// Checks of a job's data that do not stop it but that a user should hear
// about before training: classes that never occur in the training split, a
// class count that suggests a forgotten regression flag, and features whose
// ranges differ by orders of magnitude without scaling. Each finding is one
// sentence naming the config field that addresses it; DataSource puts them
// in its DataDescription and the coordinator logs them as warnings. Pure
// functions: thread-safe.
#ifndef DESCENT_COMMON_DATA_DATA_CHECKS_H_
#define DESCENT_COMMON_DATA_DATA_CHECKS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/data/dataset.h"

namespace descent {

// Above this ratio of the widest feature range to the narrowest non-zero
// one, unscaled features draw a warning.
inline constexpr double kMaxFeatureRangeRatio = 1e3;
// More classes than this, with fewer than kMinExamplesPerClass training
// examples per class on average, look like a regression target.
inline constexpr int32_t kManyClasses = 10;
inline constexpr double kMinExamplesPerClass = 5;

// Warnings about the classes of a classification training split: `labels`
// (class ids below num_classes) with the classes' `class_names` (as in
// Dataset). `regression_field` names the option that makes the label a
// real target, e.g. "data.csv.regression".
std::vector<std::string> ClassWarnings(const std::vector<int32_t>& labels,
                                       int32_t num_classes,
                                       const std::vector<std::string>& names,
                                       const std::string& regression_field);

// Where the features of dense `train` span ranges (max - min) more than
// kMaxFeatureRangeRatio apart, a sentence saying so with the two extremes;
// nullopt otherwise, or when there are no non-zero ranges.
std::optional<std::string> FeatureRangeProblem(const Dataset& train);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_DATA_CHECKS_H_
