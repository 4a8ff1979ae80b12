#include "common/data/data_description.h"

#include <algorithm>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/data/class_labels.h"
#include "common/data/text_lines.h"

namespace descent {
namespace {

// "3 (label \"x\")" or "3".
std::string NameClass(const std::vector<std::string>& names, int32_t c) {
  if (names.empty()) return absl::StrCat(c);
  return absl::StrFormat("%d (label \"%s\")", c, LabelOfClass(names, c));
}

bool NumericNames(const std::vector<std::string>& names) {
  return std::all_of(names.begin(), names.end(), [](const std::string& n) {
    int64_t value;
    return ParseWholeNumber(n, &value);
  });
}

// The range of the numeric labels of the classes that occur in `labels`.
void SetLabelRange(const std::vector<int32_t>& labels,
                   const std::vector<std::string>& names,
                   DataDescription* description) {
  std::optional<double> low, high;
  for (int32_t c : std::set<int32_t>(labels.begin(), labels.end())) {
    int64_t value;
    if (!ParseWholeNumber(LabelOfClass(names, c), &value)) return;
    low = std::min<double>(low.value_or(value), value);
    high = std::max<double>(high.value_or(value), value);
  }
  description->label_min = low;
  description->label_max = high;
}

}  // namespace

std::string DescribeShape(const DataDescription& data) {
  std::string text = absl::StrCat(data.train_examples, " training");
  if (data.validation_examples > 0) {
    absl::StrAppend(&text, ", ", data.validation_examples, " validation");
  }
  absl::StrAppend(&text, " and ", data.test_examples, " test examples, ",
                  data.num_features, " features, ");
  if (data.num_classes == 0) {
    absl::StrAppend(&text, "regression");
  } else {
    absl::StrAppend(&text, data.num_classes, " classes");
  }
  const char* what = data.num_classes == 0 ? "targets" : "labels";
  if (!data.class_names.empty()) {
    const size_t shown = std::min<size_t>(data.class_names.size(), 10);
    absl::StrAppend(&text, " (labels ",
                    absl::StrJoin(data.class_names.begin(),
                                  data.class_names.begin() + shown, ", "),
                    shown < data.class_names.size() ? ", ..." : "",
                    " as classes 0..", data.class_names.size() - 1);
    if (data.label_min.has_value()) {
      absl::StrAppend(&text, "; range ", *data.label_min, " to ",
                      *data.label_max);
    }
    absl::StrAppend(&text, ")");
  } else if (data.label_min.has_value()) {
    absl::StrAppend(&text, " (", what, " ", *data.label_min, " to ",
                    *data.label_max, ")");
  }
  return text;
}

void DescribeLabels(const std::vector<int32_t>& labels,
                    const std::vector<float>& targets,
                    const std::vector<std::string>& class_names,
                    const std::string& regression_field,
                    DataDescription* description) {
  description->class_names = class_names;
  if (!targets.empty()) {
    const auto [low, high] =
        std::minmax_element(targets.begin(), targets.end());
    description->label_min = *low;
    description->label_max = *high;
  }
  if (description->num_classes == 0) return;
  SetLabelRange(labels, class_names, description);
  description->warnings = ClassWarnings(labels, description->num_classes,
                                        class_names, regression_field);
}

void DescribeUnscaledFeatures(const Dataset& train,
                              DataDescription* description) {
  const std::optional<std::string> problem = FeatureRangeProblem(train);
  if (!problem.has_value()) return;
  description->warnings.push_back(
      absl::StrCat(*problem,
                   " and data.scaling is NO_SCALING: gradient descent may "
                   "diverge or crawl; set data.scaling: STANDARDIZE"));
  description->divergence_hint =
      absl::StrCat(*problem, ": set data.scaling: STANDARDIZE");
}

std::vector<std::string> ClassWarnings(const std::vector<int32_t>& labels,
                                       int32_t num_classes,
                                       const std::vector<std::string>& names,
                                       const std::string& regression_field) {
  std::vector<std::string> warnings;
  std::vector<int64_t> counts(num_classes, 0);
  for (int32_t label : labels) ++counts[label];
  std::vector<std::string> unseen;
  for (int32_t c = 0; c < num_classes; ++c) {
    if (counts[c] == 0) unseen.push_back(NameClass(names, c));
  }
  const size_t kShown = 10;
  if (!unseen.empty()) {
    const size_t hidden = unseen.size() > kShown ? unseen.size() - kShown : 0;
    unseen.resize(std::min(unseen.size(), kShown));
    warnings.push_back(absl::StrCat(
        hidden + unseen.size(), " of ", num_classes,
        " classes never occur in the ", labels.size(),
        " training examples (class ", absl::StrJoin(unseen, ", "),
        hidden > 0 ? absl::StrCat(" and ", hidden, " more") : "",
        "): the model cannot learn them; check num_classes and the labels"));
  }
  const double per_class = static_cast<double>(labels.size()) / num_classes;
  if (num_classes > kManyClasses && per_class < kMinExamplesPerClass) {
    const bool numeric = names.empty() || NumericNames(names);
    warnings.push_back(absl::StrFormat(
        "%d classes for %d training examples (%.1f per class)%s", num_classes,
        labels.size(), per_class,
        numeric ? absl::StrCat(": the label looks like a regression target; "
                               "set ",
                               regression_field, ": true")
                : ": too few examples to learn each class"));
  }
  return warnings;
}

std::optional<std::string> FeatureRangeProblem(const Dataset& train) {
  if (train.num_examples == 0) return std::nullopt;
  const int64_t n = train.num_features;
  std::vector<float> low(train.example(0), train.example(0) + n);
  std::vector<float> high = low;
  for (int64_t i = 1; i < train.num_examples; ++i) {
    const float* x = train.example(i);
    for (int64_t f = 0; f < n; ++f) {
      low[f] = std::min(low[f], x[f]);
      high[f] = std::max(high[f], x[f]);
    }
  }
  double widest = 0, narrowest = std::numeric_limits<double>::infinity();
  int64_t wide = -1, narrow = -1;
  for (int64_t f = 0; f < n; ++f) {
    const double range = static_cast<double>(high[f]) - low[f];
    if (range <= 0) continue;
    if (range > widest) widest = range, wide = f;
    if (range < narrowest) narrowest = range, narrow = f;
  }
  if (wide < 0 || widest <= kMaxFeatureRangeRatio * narrowest) {
    return std::nullopt;
  }
  return absl::StrFormat(
      "feature ranges differ by orders of magnitude (feature %d spans %g, "
      "feature %d spans %g: %.0f times)",
      wide, widest, narrow, narrowest, widest / narrowest);
}

}  // namespace descent
