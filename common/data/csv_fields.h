// The fields of delimited-text (CSV) records, for the CSV reader
// (csv_reader.h): splitting a record by RFC 4180's quoting rules, and
// telling a header line from a data line. Functions here share no state:
// thread-safe.
#ifndef DESCENT_COMMON_DATA_CSV_FIELDS_H_
#define DESCENT_COMMON_DATA_CSV_FIELDS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace descent {

// Splits `record` at `delimiter` into *fields (replaced). A field may be
// quoted ("a, b"), then holding delimiters, line breaks and doubled quotes
// ("" for one "); spaces around a field, quoted or not, are dropped.
// Returns false if the record ends inside a quoted field, which then
// continues on the next line: call again with the lines joined by "\n".
// INVALID_ARGUMENT, naming the 0-based column, for a quote inside an
// unquoted field or text after a closing quote.
absl::StatusOr<bool> SplitCsvRecord(absl::string_view record, char delimiter,
                                    std::vector<std::string>* fields);

// Whether the first record of a file is a header, and why, in words.
struct HeaderGuess {
  bool header = false;
  std::string reason;
};

// Judges `first` against `second` (the next record; nullopt if there is
// none). The first record is a header when one of its fields is not a
// number where the second record's is one; without a second record, when
// one of its fields other than column `label` is not a number. String
// labels therefore do not make a header: "5.1,3.5,setosa" above
// "4.9,3.0,setosa" is data. Empty fields count as neither.
HeaderGuess GuessHeader(const std::vector<std::string>& first,
                        const std::optional<std::vector<std::string>>& second,
                        int label);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_CSV_FIELDS_H_
