#include "common/data/csv_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/data/text_lines.h"
#include "common/status_macros.h"

namespace descent {
namespace {

absl::Status OptionsError(const std::string& path, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": invalid CSV options: ", problem));
}

absl::Status CheckOptions(const std::string& path, const CsvOptions& options) {
  if (!options.label_column.empty() && options.label_index != -1) {
    return OptionsError(path, "set label_column or label_index, not both");
  }
  if (!options.label_column.empty() && !options.header) {
    return OptionsError(path, "label_column needs header = true");
  }
  if (options.label_index < -1) {
    return OptionsError(path, absl::StrCat("label_index ", options.label_index,
                                           " is negative"));
  }
  if (options.skip_lines < 0 || options.num_classes < 0) {
    return OptionsError(path, "skip_lines and num_classes must be >= 0");
  }
  if (options.regression && options.num_classes != 0) {
    return OptionsError(path, "num_classes must be 0 for regression");
  }
  return absl::OkStatus();
}

// Fields of one line, surrounding whitespace removed.
std::vector<absl::string_view> SplitFields(absl::string_view line,
                                           char delimiter) {
  std::vector<absl::string_view> fields = absl::StrSplit(line, delimiter);
  for (absl::string_view& field : fields) {
    field = absl::StripAsciiWhitespace(field);
  }
  return fields;
}

// The columns of a file, fixed by its header or its first data line.
struct Columns {
  std::vector<std::string> names;  // empty without a header
  int count = 0;
  int label = -1;

  // How errors name column c: by header name where there is one, and by
  // 0-based index.
  std::string Describe(int c) const {
    if (names.empty()) return absl::StrCat("column ", c);
    return absl::StrFormat("column \"%s\" (%d)", names[c], c);
  }
};

class CsvParser {
 public:
  CsvParser(const std::string& path, const CsvOptions& options)
      : path_(path), options_(options) {}

  absl::Status Consume(int64_t line_number, absl::string_view line);
  absl::StatusOr<Dataset> Finish();

 private:
  absl::Status LineError(absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(LineLocation(path_, line_), ": ", problem));
  }

  absl::Status SetColumns(const std::vector<absl::string_view>& fields);
  absl::StatusOr<int> FindLabel() const;
  absl::Status ReadRow(const std::vector<absl::string_view>& fields);
  absl::StatusOr<float> ReadReal(int c, absl::string_view field) const;
  absl::Status ReadLabel(absl::string_view field);

  const std::string& path_;
  const CsvOptions& options_;
  int64_t line_ = 0;  // number of the line being read
  std::optional<Columns> columns_;
  Dataset data_;
  int64_t max_label_ = -1;
};

absl::Status CsvParser::Consume(int64_t line_number, absl::string_view line) {
  line_ = line_number;
  if (line_number <= options_.skip_lines) return absl::OkStatus();
  if (absl::StripAsciiWhitespace(line).empty()) return absl::OkStatus();
  const std::vector<absl::string_view> fields =
      SplitFields(line, options_.delimiter);
  if (columns_.has_value()) return ReadRow(fields);
  RETURN_IF_ERROR(SetColumns(fields));
  return options_.header ? absl::OkStatus() : ReadRow(fields);
}

absl::Status CsvParser::SetColumns(
    const std::vector<absl::string_view>& fields) {
  columns_.emplace();
  columns_->count = static_cast<int>(fields.size());
  if (options_.header) {
    for (int c = 0; c < columns_->count; ++c) {
      if (absl::StrContains(fields[c], '"')) {
        return LineError(absl::StrCat(
            "header column ", c,
            " contains a double quote; quoted fields are not supported"));
      }
      columns_->names.emplace_back(fields[c]);
    }
  }
  ASSIGN_OR_RETURN(columns_->label, FindLabel());
  return absl::OkStatus();
}

absl::StatusOr<int> CsvParser::FindLabel() const {
  const std::vector<std::string>& names = columns_->names;
  if (!options_.label_column.empty()) {
    auto it = std::find(names.begin(), names.end(), options_.label_column);
    if (it == names.end()) {
      return LineError(absl::StrFormat(
          "label column \"%s\" not found in the header (columns: %s)",
          options_.label_column, absl::StrJoin(names, ", ")));
    }
    if (std::count(names.begin(), names.end(), *it) > 1) {
      return LineError(absl::StrFormat(
          "label column \"%s\" appears more than once in the header",
          options_.label_column));
    }
    return static_cast<int>(it - names.begin());
  }
  if (options_.label_index >= columns_->count) {
    return LineError(absl::StrFormat(
        "label column %d not found: the file has %d columns (0..%d)",
        options_.label_index, columns_->count, columns_->count - 1));
  }
  return options_.label_index >= 0 ? options_.label_index : columns_->count - 1;
}

absl::Status CsvParser::ReadRow(const std::vector<absl::string_view>& fields) {
  if (static_cast<int>(fields.size()) != columns_->count) {
    return LineError(absl::StrFormat(
        "expected %d fields (as on the %s), found %d", columns_->count,
        options_.header ? "header" : "first data line", fields.size()));
  }
  for (int c = 0; c < columns_->count; ++c) {
    if (c == columns_->label) {
      RETURN_IF_ERROR(ReadLabel(fields[c]));
      continue;
    }
    ASSIGN_OR_RETURN(const float value, ReadReal(c, fields[c]));
    data_.features.push_back(value);
  }
  ++data_.num_examples;
  return absl::OkStatus();
}

absl::StatusOr<float> CsvParser::ReadReal(int c,
                                          absl::string_view field) const {
  const std::string column = columns_->Describe(c);
  if (field.empty()) {
    return LineError(absl::StrCat(column, " is empty (missing value)"));
  }
  if (absl::StrContains(field, '"')) {
    return LineError(absl::StrCat(
        column, " contains a double quote; quoted fields are not supported"));
  }
  float value;
  if (!absl::SimpleAtof(field, &value)) {
    return LineError(
        absl::StrFormat("%s: value \"%s\" is not a number", column, field));
  }
  if (!std::isfinite(value)) {
    return LineError(absl::StrFormat(
        "%s: value \"%s\" is not finite (NaN, infinite or beyond float range)",
        column, field));
  }
  return value;
}

absl::Status CsvParser::ReadLabel(absl::string_view field) {
  ASSIGN_OR_RETURN(const float real, ReadReal(columns_->label, field));
  if (options_.regression) {
    data_.targets.push_back(real);
    return absl::OkStatus();
  }
  const std::string column = columns_->Describe(columns_->label);
  int64_t label;
  if (!ParseWholeNumber(field, &label)) {
    return LineError(absl::StrFormat(
        "%s: class label \"%s\" is not an integer (set regression for real "
        "targets)",
        column, field));
  }
  if (label < 0) {
    return LineError(absl::StrFormat(
        "%s: class label %d is negative; class labels are 0, 1, 2, ...", column,
        label));
  }
  if (options_.num_classes > 0 && label >= options_.num_classes) {
    return LineError(
        absl::StrFormat("%s: class label %d is not below num_classes = %d",
                        column, label, options_.num_classes));
  }
  if (label >= std::numeric_limits<int32_t>::max()) {
    return LineError(
        absl::StrFormat("%s: class label %d is too large", column, label));
  }
  max_label_ = std::max(max_label_, label);
  data_.labels.push_back(static_cast<int32_t>(label));
  return absl::OkStatus();
}

absl::StatusOr<Dataset> CsvParser::Finish() {
  if (line_ == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": empty file"));
  }
  if (data_.num_examples == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: no data rows (%d lines, all skipped, blank or a header)", path_,
        line_));
  }
  data_.num_features = columns_->count - 1;
  if (!options_.regression) {
    data_.num_classes = options_.num_classes > 0
                            ? options_.num_classes
                            : static_cast<int32_t>(max_label_ + 1);
  }
  return std::move(data_);
}

}  // namespace

absl::StatusOr<Dataset> ReadCsv(const std::string& path,
                                const CsvOptions& options) {
  RETURN_IF_ERROR(CheckOptions(path, options));
  CsvParser parser(path, options);
  RETURN_IF_ERROR(
      ForEachLine(path, [&parser](int64_t line_number, absl::string_view line) {
        return parser.Consume(line_number, line);
      }));
  return parser.Finish();
}

}  // namespace descent
