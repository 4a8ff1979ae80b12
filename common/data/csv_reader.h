// Reading a labelled data set from a delimited text file (CSV): one example
// per line, one column the label and every other column a float feature,
// in file order. No quoting: a field holding a double quote is rejected
// rather than misread. Lines may end in "\n" or "\r\n"; blank lines are
// skipped; fields may carry surrounding spaces. The file is streamed once.
// Thread-safe: ReadCsv shares no state.
//
// Every error names the file and, where one line is at fault, its 1-based
// line number, then the column and the problem, e.g.
//   "data.csv:12: column \"age\" (3) is empty (missing value)"
// Columns are shown by header name, where there is a header, and by 0-based
// index (the numbering of CsvOptions::label_index). Codes:
//   errno's canonical code (NOT_FOUND, ...)  the file cannot be opened/read
//   INVALID_ARGUMENT  inconsistent options; an empty file or one with no
//                     data rows; a line with the wrong number of fields; the
//                     label column not in the file; an empty, non-numeric,
//                     NaN or infinite value; a field with a double quote; a
//                     class label that is not a non-negative integer or not
//                     below num_classes
#ifndef DESCENT_COMMON_DATA_CSV_READER_H_
#define DESCENT_COMMON_DATA_CSV_READER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace descent {

struct CsvOptions {
  // Layout.
  // The first line after skip_lines names the columns. Without a header, the
  // first data line fixes the number of columns.
  bool header = true;
  // The label column: by name (needs header) or by 0-based index. Set at
  // most one; with neither (empty name, index -1) it is the last column.
  std::string label_column;
  int label_index = -1;
  char delimiter = ',';

  // Meaning of the label.
  // The label is a real target (Dataset::targets; num_classes must stay 0)
  // rather than a class id (Dataset::labels).
  bool regression = false;
  // Classification only: labels must be whole numbers ("2" or "2.0") in
  // [0, num_classes). 0 infers num_classes as the largest label + 1.
  int32_t num_classes = 0;

  // Lines dropped before anything else, e.g. the "n_samples,n_features,..."
  // line that opens scikit-learn's bundled CSVs. They count in line numbers.
  int skip_lines = 0;
};

// Reads the whole file at `path` into a Dataset with one example per data
// line and num_features = columns - 1; see above for the errors. On error
// nothing is returned.
absl::StatusOr<Dataset> ReadCsv(const std::string& path,
                                const CsvOptions& options);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_CSV_READER_H_
