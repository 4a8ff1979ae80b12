#include "common/data/class_labels.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/data/text_lines.h"

namespace descent {
namespace {

std::optional<int64_t> WholeNumber(const std::string& label) {
  int64_t value;
  if (!ParseWholeNumber(label, &value)) return std::nullopt;
  return value;
}

// Numbers by value first, then strings by byte.
bool LabelLess(const std::string& a, const std::string& b) {
  const std::optional<int64_t> x = WholeNumber(a);
  const std::optional<int64_t> y = WholeNumber(b);
  if (x.has_value() != y.has_value()) return x.has_value();
  return x.has_value() ? *x < *y : a < b;
}

// True if every label is a whole number in [0, limit) (limit 0: labels are
// exactly 0..K-1).
bool KeepsValues(const std::vector<std::string>& labels, int32_t limit) {
  const int64_t bound = limit > 0 ? limit : static_cast<int64_t>(labels.size());
  return std::all_of(labels.begin(), labels.end(), [&](const std::string& l) {
    const std::optional<int64_t> v = WholeNumber(l);
    return v.has_value() && *v >= 0 && *v < bound;
  });
}

bool IsPlusMinusOne(const std::vector<std::string>& labels) {
  return std::find(labels.begin(), labels.end(), "-1") != labels.end() &&
         std::all_of(labels.begin(), labels.end(), [](const std::string& l) {
           return l == "-1" || l == "1";
         });
}

}  // namespace

std::string CanonicalLabel(absl::string_view label) {
  int64_t value;
  if (ParseWholeNumber(label, &value)) return absl::StrCat(value);
  return std::string(label);
}

int32_t LabelDictionary::Add(const std::string& label) {
  auto [it, added] = ids_.emplace(label, static_cast<int32_t>(labels_.size()));
  if (added) labels_.push_back(label);
  return it->second;
}

absl::StatusOr<ClassEncoding> EncodeClasses(
    const std::vector<std::string>& labels, int32_t num_classes,
    const std::string& source) {
  ClassEncoding encoding;
  if (KeepsValues(labels, num_classes)) {
    int64_t largest = -1;
    for (const std::string& label : labels) {
      const int64_t value = *WholeNumber(label);
      encoding.class_of.push_back(static_cast<int32_t>(value));
      largest = std::max(largest, value);
    }
    encoding.num_classes =
        num_classes > 0 ? num_classes : static_cast<int32_t>(largest + 1);
    return encoding;
  }
  std::vector<std::string> sorted = labels;
  if (IsPlusMinusOne(labels)) sorted = {"-1", "1"};
  std::sort(sorted.begin(), sorted.end(), LabelLess);
  if (num_classes > 0 && static_cast<int64_t>(sorted.size()) > num_classes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d distinct class labels (%s, ...) but num_classes = %d", source,
        sorted.size(), sorted.front(), num_classes));
  }
  for (const std::string& label : labels) {
    encoding.class_of.push_back(static_cast<int32_t>(
        std::lower_bound(sorted.begin(), sorted.end(), label, LabelLess) -
        sorted.begin()));
  }
  encoding.num_classes =
      num_classes > 0 ? num_classes : static_cast<int32_t>(sorted.size());
  encoding.class_names = std::move(sorted);
  return encoding;
}

std::string LabelOfClass(const std::vector<std::string>& class_names,
                         int32_t c) {
  return class_names.empty() ? absl::StrCat(c) : class_names[c];
}

}  // namespace descent
