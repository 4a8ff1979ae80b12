// DataDescription: what the coordinator learns of a job's data before it
// serves (DataSource::Describe), logs at the start and writes in the job's
// summary: the shape, the labels, and findings that do not stop the job
// but that a user should hear about before training: classes that never
// occur in the training split, a class count that suggests a forgotten
// regression flag, and features whose ranges differ by orders of magnitude
// without scaling. Each finding is one sentence naming the config field
// that addresses it. Pure functions: thread-safe.
#ifndef DESCENT_COMMON_DATA_DATA_DESCRIPTION_H_
#define DESCENT_COMMON_DATA_DATA_DESCRIPTION_H_

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

// The data of a job as DataSource::Describe finds it.
struct DataDescription {
  int64_t train_examples = 0;  // the validation split excluded
  int64_t test_examples = 0;
  int64_t validation_examples = 0;
  int64_t num_features = 0;  // sparse data: the width of the key space
  int32_t num_classes = 0;   // 0 for regression data
  // Classification data whose labels were encoded (class_labels.h): the
  // label of each class. Empty where class c is written c.
  std::vector<std::string> class_names;
  // The smallest and largest label of the training split: regression
  // targets, or class labels as written where they are numbers; unset for
  // string labels.
  std::optional<double> label_min;
  std::optional<double> label_max;
  // Findings worth a warning before training (data_checks.h), one sentence
  // each, naming the field that addresses them.
  std::vector<std::string> warnings;
  // Non-empty where unscaled features' ranges differ by orders of
  // magnitude: what a divergence message should add.
  std::string divergence_hint;
  // With data.scaling: the FeatureScaler fitted on the training split, its
  // offset and scale per feature (x -> (x - offset) / scale); empty without.
  std::vector<float> scaling_offset;
  std::vector<float> scaling_scale;
};

// One line for the log: "120 training and 30 test examples, 4 features,
// 3 classes (labels setosa, versicolor, virginica)" or "..., regression
// (targets 25 to 346)".
std::string DescribeShape(const DataDescription& data);

// Fills in description's class_names and label range from the training
// split's `labels` (classification, with `class_names` as in Dataset) or
// `targets` (regression), and adds ClassWarnings.
void DescribeLabels(const std::vector<int32_t>& labels,
                    const std::vector<float>& targets,
                    const std::vector<std::string>& class_names,
                    const std::string& regression_field,
                    DataDescription* description);

// Adds the warning and the divergence hint of FeatureRangeProblem, for
// dense training data that is not scaled.
void DescribeUnscaledFeatures(const Dataset& train,
                              DataDescription* description);

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

#endif  // DESCENT_COMMON_DATA_DATA_DESCRIPTION_H_
