#include "common/data/libsvm_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/data/class_labels.h"
#include "common/data/text_lines.h"
#include "common/status_macros.h"

namespace descent {
namespace {

absl::Status CheckOptions(const std::string& path,
                          const LibsvmOptions& options) {
  if (options.num_features < 0 || options.num_classes < 0 ||
      options.max_features < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": invalid LIBSVM options: num_features, max_features "
                     "and num_classes must be >= 0"));
  }
  if (options.regression && options.num_classes != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": invalid LIBSVM options: num_classes must be 0 "
                     "for regression"));
  }
  return absl::OkStatus();
}

class LibsvmParser {
 public:
  LibsvmParser(const std::string& path, const LibsvmOptions& options)
      : path_(path), options_(options) {}

  absl::Status Consume(int64_t line_number, absl::string_view line);
  absl::StatusOr<SparseDataset> Finish();
  LibsvmIndexBase base() const {
    return {options_.zero_based.value_or(zero_line_ > 0), zero_line_};
  }

 private:
  absl::Status LineError(absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(LineLocation(path_, line_), ": ", problem));
  }

  absl::Status ReadLabel(absl::string_view token);
  absl::Status ReadClass(absl::string_view token);
  absl::Status ReadQid(absl::string_view token) const;
  absl::Status ReadFeature(absl::string_view token, int64_t* previous);
  // An index as the file writes it, from its 0-based form.
  int64_t AsWritten(int64_t index) const {
    return options_.zero_based.value_or(true) ? index : index + 1;
  }

  const std::string& path_;
  const LibsvmOptions& options_;
  int64_t line_ = 0;  // number of the line being read
  SparseDataset data_;
  // Largest feature index seen, 0-based (read as 0-based when the base is
  // yet to be decided).
  int64_t max_index_ = -1;
  int64_t zero_line_ = 0;  // the first line with index 0; 0: none yet
  LabelDictionary labels_;
};

absl::Status LibsvmParser::Consume(int64_t line_number,
                                   absl::string_view line) {
  line_ = line_number;
  line = line.substr(0, line.find('#'));
  const std::vector<absl::string_view> tokens =
      absl::StrSplit(line, absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
  if (tokens.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(ReadLabel(tokens[0]));
  size_t first = 1;
  if (tokens.size() > 1 && absl::StartsWith(tokens[1], "qid:")) {
    RETURN_IF_ERROR(ReadQid(tokens[1]));
    first = 2;
  }
  int64_t previous = -1;
  for (size_t t = first; t < tokens.size(); ++t) {
    RETURN_IF_ERROR(ReadFeature(tokens[t], &previous));
  }
  data_.row_offsets.push_back(static_cast<int64_t>(data_.indices.size()));
  ++data_.num_examples;
  return absl::OkStatus();
}

absl::Status LibsvmParser::ReadLabel(absl::string_view token) {
  if (!options_.regression) return ReadClass(token);
  float target;
  if (!absl::SimpleAtof(token, &target) || !std::isfinite(target)) {
    return LineError(absl::StrFormat(
        "bad label \"%s\": expected a finite real regression target", token));
  }
  data_.targets.push_back(target);
  return absl::OkStatus();
}

absl::Status LibsvmParser::ReadClass(absl::string_view token) {
  int64_t label;
  if (!ParseWholeNumber(token, &label)) {
    return LineError(absl::StrFormat(
        "bad label \"%s\": class labels must be integers (set regression for "
        "real targets)",
        token));
  }
  if (options_.num_classes > 0 && label >= options_.num_classes) {
    return LineError(
        absl::StrFormat("bad label \"%s\": class %d is not below num_classes "
                        "= %d",
                        token, label, options_.num_classes));
  }
  data_.labels.push_back(labels_.Add(absl::StrCat(label)));
  return absl::OkStatus();
}

absl::Status LibsvmParser::ReadQid(absl::string_view token) const {
  int64_t qid;
  if (!absl::SimpleAtoi(token.substr(4), &qid)) {
    return LineError(absl::StrFormat(
        "bad query id token \"%s\": expected qid:<integer>", token));
  }
  return absl::OkStatus();
}

absl::Status LibsvmParser::ReadFeature(absl::string_view token,
                                       int64_t* previous) {
  const size_t colon = token.find(':');
  int64_t written;
  float value;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(token.substr(0, colon), &written) ||
      !absl::SimpleAtof(token.substr(colon + 1), &value)) {
    return LineError(absl::StrFormat(
        "bad feature token \"%s\": expected <index>:<value>", token));
  }
  const std::string where =
      absl::StrFormat("feature index %d in \"%s\"", written, token);
  if (written < 0) return LineError(absl::StrCat(where, " is negative"));
  if (written == 0 && !options_.zero_based.value_or(true)) {
    return LineError(absl::StrCat(where,
                                  " is invalid: indices are 1-based (set "
                                  "zero_based: true for 0-based files)"));
  }
  if (written == 0 && zero_line_ == 0) zero_line_ = line_;
  const int64_t index = AsWritten(0) == 0 ? written : written - 1;
  if (index <= *previous) {
    return LineError(absl::StrFormat(
        "%s is not above the previous index %d: indices must be strictly "
        "increasing within a line",
        where, AsWritten(*previous)));
  }
  // Undecided, a 1-based file's largest index reads as num_features here.
  const int64_t slack = options_.zero_based.has_value() ? 0 : 1;
  if (options_.num_features > 0 && index >= options_.num_features + slack) {
    return LineError(absl::StrFormat(
        "%s is out of range: num_features = %d allows indices %d..%d", where,
        options_.num_features, AsWritten(0),
        AsWritten(options_.num_features - 1)));
  }
  if (options_.max_features > 0 && index >= options_.max_features + slack) {
    // Undecided, the largest index allowed is a 1-based file's.
    const std::string allowed =
        options_.zero_based.has_value()
            ? absl::StrFormat("%d..%d", AsWritten(0),
                              AsWritten(options_.max_features - 1))
            : absl::StrFormat("up to %d", options_.max_features);
    return LineError(absl::StrFormat(
        "%s is beyond the feature space's limit: %s = %d allows indices %s "
        "(raise it for a wider feature space)",
        where, options_.max_features_field, options_.max_features, allowed));
  }
  if (index == std::numeric_limits<int64_t>::max()) {
    return LineError(absl::StrCat(where, " is too large"));
  }
  if (!std::isfinite(value)) {
    return LineError(absl::StrFormat(
        "value in \"%s\" is not finite (NaN, infinite or beyond float range)",
        token));
  }
  *previous = index;
  max_index_ = std::max(max_index_, index);
  data_.indices.push_back(index);
  data_.values.push_back(value);
  return absl::OkStatus();
}

absl::StatusOr<SparseDataset> LibsvmParser::Finish() {
  if (data_.num_examples == 0) {
    return absl::InvalidArgumentError(
        line_ == 0 ? absl::StrCat(path_, ": empty file")
                   : absl::StrFormat("%s: no examples (%d lines, all blank "
                                     "or comments)",
                                     path_, line_));
  }
  if (!options_.zero_based.has_value() && zero_line_ == 0) {
    // 1-based after all: every index moves down by one.
    for (int64_t& index : data_.indices) --index;
    if (max_index_ > 0) --max_index_;
  }
  const int64_t width = max_index_ + 1;
  if (options_.num_features > 0 && width > options_.num_features) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: index 0 never occurs, so indices are taken as 1-based, and the "
        "largest, %d, is out of range: num_features = %d allows 1..%d",
        path_, max_index_ + 1, options_.num_features, options_.num_features));
  }
  if (options_.max_features > 0 && width > options_.max_features) {
    // Only a file whose base was undecided while it was read gets here.
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: index 0 occurs at line %d, so indices are 0-based, and the "
        "largest, %d, is beyond the feature space's limit: %s = %d allows "
        "0..%d",
        path_, zero_line_, max_index_, options_.max_features_field,
        options_.max_features, options_.max_features - 1));
  }
  data_.num_features =
      options_.num_features > 0 ? options_.num_features : width;
  if (!options_.regression) {
    RETURN_IF_ERROR(
        FinishClasses(labels_, options_.num_classes, path_, &data_));
  }
  return std::move(data_);
}

}  // namespace

absl::StatusOr<SparseDataset> ReadLibsvm(const std::string& path,
                                         const LibsvmOptions& options,
                                         LibsvmIndexBase* base) {
  RETURN_IF_ERROR(CheckOptions(path, options));
  LibsvmParser parser(path, options);
  RETURN_IF_ERROR(
      ForEachLine(path, [&parser](int64_t line_number, absl::string_view line) {
        return parser.Consume(line_number, line);
      }));
  ASSIGN_OR_RETURN(SparseDataset data, parser.Finish());
  if (base != nullptr) *base = parser.base();
  return data;
}

absl::StatusOr<Dataset> ReadLibsvmDense(const std::string& path,
                                        const LibsvmOptions& options) {
  ASSIGN_OR_RETURN(const SparseDataset sparse, ReadLibsvm(path, options));
  if (sparse.num_features > 0 &&
      sparse.num_examples > kMaxDenseLibsvmFloats / sparse.num_features) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: a dense copy of %d examples x %d features exceeds %d floats; "
        "read it with ReadLibsvm instead",
        path, sparse.num_examples, sparse.num_features, kMaxDenseLibsvmFloats));
  }
  return ToDense(sparse);
}

}  // namespace descent
