// The CSV/TSV reader on any bytes (plain or gzip'd): a data set or an
// error. The first byte picks the options (header, delimiter, label
// column, regression).
#include <cstddef>
#include <cstdint>

#include "common/data/csv_reader.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  descent::CsvOptions options;
  const uint8_t choice = data[0];
  if (choice & 1) options.header = (choice & 2) != 0;
  options.delimiter = (choice & 4) ? '\t' : 0;
  options.label_index = (choice & 8) ? 0 : -1;
  if (choice & 16) options.label_column = "label";
  options.regression = (choice & 32) != 0;
  options.skip_lines = (choice & 64) ? 1 : 0;
  const std::string path = descent::WriteFuzzFile("in.csv", data + 1, size - 1);
  (void)descent::ReadCsv(path, options);
  return 0;
}
