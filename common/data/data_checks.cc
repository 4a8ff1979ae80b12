#include "common/data/data_checks.h"

#include <algorithm>
#include <limits>
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

}  // namespace

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
