// Reading a labelled data set from a delimited text file (CSV or TSV,
// plain or gzip-compressed): one example per record, one column the label
// and every other column a float feature, in file order. Fields follow RFC
// 4180: a quoted field may hold the delimiter, line breaks and doubled
// quotes ("" for one "). Lines may end in "\n" or "\r\n"; blank lines are
// skipped; fields may carry surrounding spaces. The file is streamed once.
// Thread-safe: ReadCsv shares no state.
//
// Header. Unless CsvOptions::header says, the first record (after
// skip_lines) is judged by GuessHeader (csv_fields.h): a header when one of
// its fields is not a number where the next record's is. The decision and
// its reason are logged (glog INFO) with the file's name.
//
// Labels. Classification labels may be strings ("setosa") or whole numbers;
// they become class ids by EncodeClasses (class_labels.h): 0..K-1 stay as
// they are, anything else is encoded in sorted order, the labels kept in
// Dataset::class_names.
//
// Every error names the file and, where one line is at fault, its 1-based
// line number, then the column and the problem, e.g.
//   "data.csv:12: column \"age\" (3) is empty (missing value)"
// Columns are shown by header name, where there is a header, and by 0-based
// index (the numbering of CsvOptions::label_index). Codes:
//   errno's canonical code (NOT_FOUND, ...)  the file cannot be opened/read
//   DATA_LOSS         a corrupt or truncated gzip stream
//   INVALID_ARGUMENT  inconsistent options; an empty file or one with no
//                     data rows; a line with the wrong number of fields; the
//                     label column not in the file; an empty, non-numeric,
//                     NaN or infinite value; a misplaced double quote or a
//                     quoted field never closed; a numeric class label that
//                     is not a whole number, or not below num_classes
#ifndef DESCENT_COMMON_DATA_CSV_READER_H_
#define DESCENT_COMMON_DATA_CSV_READER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace descent {

struct CsvOptions {
  // Layout.
  // The first line after skip_lines names the columns (true) or is data
  // (false); unset: judged as above. Without a header, the first data line
  // fixes the number of columns.
  std::optional<bool> header;
  // The label column: by name (needs header) or by 0-based index. Set at
  // most one; with neither (empty name, index -1) it is the last column.
  std::string label_column;
  int label_index = -1;
  // The field separator; 0: a tab for files named *.tsv or *.tsv.gz, a
  // comma for any other.
  char delimiter = 0;

  // Meaning of the label.
  // The label is a real target (Dataset::targets; num_classes must stay 0)
  // rather than a class id (Dataset::labels).
  bool regression = false;
  // Classification only: the number of classes; numeric labels ("2" or
  // "2.0") must then be below it. 0 infers it from the labels (see above).
  int32_t num_classes = 0;

  // Lines dropped before anything else, e.g. the "n_samples,n_features,..."
  // line that opens scikit-learn's bundled CSVs. They count in line numbers.
  int skip_lines = 0;
};

// CsvOptions::delimiter from the config's text: "" is 0 (by file name),
// one character is itself, and the two characters \t are a tab (as a shell
// passes --set data.csv.delimiter=\t). nullopt for anything else, or a
// quote or line break.
std::optional<char> ParseCsvDelimiter(const std::string& text);

// The delimiter ReadCsv uses for `path` with `options`.
char CsvDelimiter(const std::string& path, const CsvOptions& options);

// Reads the whole file at `path` into a Dataset with one example per data
// line and num_features = columns - 1; see above for the errors. On error
// nothing is returned.
absl::StatusOr<Dataset> ReadCsv(const std::string& path,
                                const CsvOptions& options);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_CSV_READER_H_
