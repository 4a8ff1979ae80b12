#include "common/data/csv_fields.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace descent {
namespace {

bool IsNumber(const std::string& field) {
  double value;
  return absl::SimpleAtod(field, &value);
}

}  // namespace

absl::StatusOr<bool> SplitCsvRecord(absl::string_view record, char delimiter,
                                    std::vector<std::string>* fields) {
  fields->clear();
  size_t i = 0;
  while (true) {
    while (i < record.size() && record[i] != delimiter &&
           absl::ascii_isspace(static_cast<unsigned char>(record[i]))) {
      ++i;
    }
    std::string& field = fields->emplace_back();
    const int column = static_cast<int>(fields->size()) - 1;
    if (i < record.size() && record[i] == '"') {
      for (++i;; ++i) {
        if (i >= record.size()) return false;  // the quote is still open
        if (record[i] != '"') {
          field.push_back(record[i]);
        } else if (i + 1 < record.size() && record[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          break;
        }
      }
      ++i;  // past the closing quote
      while (i < record.size() && record[i] != delimiter &&
             absl::ascii_isspace(static_cast<unsigned char>(record[i]))) {
        ++i;
      }
      if (i < record.size() && record[i] != delimiter) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "column %d: text after the closing quote of a quoted field",
            column));
      }
    } else {
      const size_t end = std::min(record.find(delimiter, i), record.size());
      const absl::string_view text =
          absl::StripTrailingAsciiWhitespace(record.substr(i, end - i));
      if (text.find('"') != absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "column %d: a double quote inside an unquoted field (quote the "
            "whole field and double the quotes in it: \"a \"\"b\"\"\")",
            column));
      }
      field.assign(text.data(), text.size());
      i = end;
    }
    if (i >= record.size()) return true;
    ++i;  // past the delimiter
  }
}

HeaderGuess GuessHeader(const std::vector<std::string>& first,
                        const std::optional<std::vector<std::string>>& second,
                        int label) {
  for (size_t c = 0; c < first.size(); ++c) {
    if (first[c].empty() || IsNumber(first[c])) continue;
    if (second.has_value()) {
      if (c >= second->size() || !IsNumber((*second)[c])) continue;
      return {true, absl::StrFormat(
                        "field \"%s\" (column %d) is not a number where the "
                        "next line's (\"%s\") is",
                        first[c], c, (*second)[c])};
    }
    if (static_cast<int>(c) == label) continue;
    return {true,
            absl::StrFormat("feature field \"%s\" (column %d) is not a number",
                            first[c], c)};
  }
  return {false, second.has_value()
                     ? "its fields are numbers wherever the next line's are"
                     : "its features are numbers"};
}

}  // namespace descent
