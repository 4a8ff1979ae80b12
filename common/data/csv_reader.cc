#include "common/data/csv_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
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
#include "common/data/class_labels.h"
#include "common/data/csv_fields.h"
#include "common/data/text_lines.h"
#include "common/status_macros.h"
#include "glog/logging.h"

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
  if (!options.label_column.empty() && !options.header.value_or(true)) {
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
  const char d = options.delimiter;
  if (d == '"' || d == '\n' || d == '\r') {
    return OptionsError(path, "the delimiter cannot be a quote or line break");
  }
  return absl::OkStatus();
}

// The columns of a file, fixed by its header or its first data line.
struct Columns {
  std::vector<std::string> names;  // empty without a header
  int count = 0;
  int label = -1;
  int64_t line = 0;  // the line that fixed them

  // How errors name column c: by header name where there is one, and by
  // 0-based index.
  std::string Describe(int c) const {
    if (names.empty()) return absl::StrCat("column ", c);
    return absl::StrFormat("column \"%s\" (%d)", names[c], c);
  }
};

using Fields = std::vector<std::string>;

class CsvParser {
 public:
  CsvParser(const std::string& path, const CsvOptions& options)
      : path_(path),
        options_(options),
        delimiter_(CsvDelimiter(path, options)) {}

  absl::Status Consume(int64_t line_number, absl::string_view line);
  absl::StatusOr<Dataset> Finish();

 private:
  absl::Status LineError(absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(LineLocation(path_, line_), ": ", problem));
  }

  absl::Status Record(const Fields& fields);
  // Decides whether the held first record is a header, now that `second`
  // (nullopt: none) is known, and reads it accordingly.
  absl::Status ResolveHeader(const std::optional<Fields>& second);
  absl::Status SetColumns(const Fields& fields, bool header);
  absl::StatusOr<int> FindLabel() const;
  absl::Status ReadRow(const Fields& fields);
  absl::StatusOr<float> ReadReal(int c, absl::string_view field) const;
  absl::Status ReadLabel(absl::string_view field);

  const std::string& path_;
  const CsvOptions& options_;
  const char delimiter_;
  int64_t line_ = 0;         // number of the line the current record starts on
  int64_t last_line_ = 0;    // number of the last line read
  std::string open_record_;  // a record whose quoted field spans lines
  Fields fields_;
  // Without options_.header: the first record, until the second is read.
  std::optional<Fields> first_;
  int64_t first_line_ = 0;
  bool header_ = false;
  std::optional<Columns> columns_;
  Dataset data_;
  LabelDictionary labels_;
};

absl::Status CsvParser::Consume(int64_t line_number, absl::string_view line) {
  last_line_ = line_number;
  if (line_number <= options_.skip_lines) return absl::OkStatus();
  absl::string_view record = line;
  if (!open_record_.empty()) {
    absl::StrAppend(&open_record_, "\n", line);
    record = open_record_;
  } else {
    line_ = line_number;
    if (absl::StripAsciiWhitespace(line).empty()) return absl::OkStatus();
  }
  absl::StatusOr<bool> complete = SplitCsvRecord(record, delimiter_, &fields_);
  if (!complete.ok()) return LineError(complete.status().message());
  if (!*complete) {
    if (open_record_.empty()) open_record_ = std::string(line);
    return absl::OkStatus();
  }
  open_record_.clear();
  return Record(fields_);
}

absl::Status CsvParser::Record(const Fields& fields) {
  if (columns_.has_value()) return ReadRow(fields);
  if (options_.header.has_value() || !options_.label_column.empty()) {
    header_ = options_.header.value_or(true);
    RETURN_IF_ERROR(SetColumns(fields, header_));
    return header_ ? absl::OkStatus() : ReadRow(fields);
  }
  if (!first_.has_value()) {
    first_ = fields;
    first_line_ = line_;
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(ResolveHeader(fields));
  return ReadRow(fields);
}

absl::Status CsvParser::ResolveHeader(const std::optional<Fields>& second) {
  const int label = options_.label_index >= 0
                        ? options_.label_index
                        : static_cast<int>(first_->size()) - 1;
  const HeaderGuess guess = GuessHeader(*first_, second, label);
  header_ = guess.header;
  LOG(INFO) << path_ << ": line " << first_line_
            << (header_ ? " is taken as a header" : " is taken as data") << ": "
            << guess.reason
            << " (set data.csv.header: " << (header_ ? "false" : "true")
            << " to read it as " << (header_ ? "data" : "a header") << ")";
  const int64_t current = line_;
  line_ = first_line_;
  absl::Status status = SetColumns(*first_, header_);
  if (status.ok() && !header_) status = ReadRow(*first_);
  line_ = current;
  first_.reset();
  return status;
}

absl::Status CsvParser::SetColumns(const Fields& fields, bool header) {
  columns_.emplace();
  columns_->count = static_cast<int>(fields.size());
  columns_->line = line_;
  if (header) columns_->names = fields;
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

absl::Status CsvParser::ReadRow(const Fields& fields) {
  if (static_cast<int>(fields.size()) != columns_->count) {
    // A first row that disagrees with the line above it: that line may be
    // a title or metadata line (scikit-learn's "569,30,malignant,benign").
    const std::string hint =
        data_.num_examples == 0
            ? absl::StrFormat(
                  "; if line %d is not part of the table, set "
                  "skip_lines: %d",
                  columns_->line, columns_->line)
            : "";
    return LineError(absl::StrFormat(
        "expected %d fields (as on the %s, line %d), found %d%s",
        columns_->count, header_ ? "header" : "first data line", columns_->line,
        fields.size(), hint));
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
  if (options_.regression) {
    ASSIGN_OR_RETURN(const float real, ReadReal(columns_->label, field));
    data_.targets.push_back(real);
    return absl::OkStatus();
  }
  const std::string column = columns_->Describe(columns_->label);
  if (field.empty()) {
    return LineError(absl::StrCat(column, " is empty (missing label)"));
  }
  double real;
  int64_t label;
  const bool number = absl::SimpleAtod(field, &real);
  if (number && !ParseWholeNumber(field, &label)) {
    return LineError(absl::StrFormat(
        "%s: class label \"%s\" is not an integer (set regression for real "
        "targets)",
        column, field));
  }
  if (number && options_.num_classes > 0 && label >= options_.num_classes) {
    return LineError(
        absl::StrFormat("%s: class label %d is not below num_classes = %d",
                        column, label, options_.num_classes));
  }
  data_.labels.push_back(labels_.Add(CanonicalLabel(field)));
  return absl::OkStatus();
}

absl::StatusOr<Dataset> CsvParser::Finish() {
  if (last_line_ == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": empty file"));
  }
  if (!open_record_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s:%d: a quoted field is never closed", path_, line_));
  }
  if (first_.has_value()) RETURN_IF_ERROR(ResolveHeader(std::nullopt));
  if (data_.num_examples == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: no data rows (%d lines, all skipped, blank or a header)", path_,
        last_line_));
  }
  data_.num_features = columns_->count - 1;
  if (!options_.regression) {
    RETURN_IF_ERROR(
        FinishClasses(labels_, options_.num_classes, path_, &data_));
  }
  return std::move(data_);
}

}  // namespace

std::optional<char> ParseCsvDelimiter(const std::string& text) {
  if (text.empty()) return '\0';
  if (text == "\\t") return '\t';
  if (text.size() != 1 || text == "\"" || text == "\n" || text == "\r") {
    return std::nullopt;
  }
  return text[0];
}

char CsvDelimiter(const std::string& path, const CsvOptions& options) {
  if (options.delimiter != 0) return options.delimiter;
  return absl::EndsWith(path, ".tsv") || absl::EndsWith(path, ".tsv.gz") ? '\t'
                                                                         : ',';
}

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
