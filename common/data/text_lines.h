// Line-by-line input shared by descent's text readers (CSV, LIBSVM, rating
// triples), plain or gzip-compressed.
//
// ForEachLine streams a file once, so a reader holds the parsed data but
// never the whole text. Lines are numbered from 1, as editors and error
// messages number them. Functions here share no state: thread-safe.
#ifndef DESCENT_COMMON_DATA_TEXT_LINES_H_
#define DESCENT_COMMON_DATA_TEXT_LINES_H_

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace descent {

// Visits line `line_number` (1-based) of a file, without its line ending.
using LineVisitor =
    absl::FunctionRef<absl::Status(int64_t line_number, absl::string_view)>;

// Calls `visit` on every line of `path` in order, with "\n" or "\r\n"
// removed and, on line 1, a UTF-8 byte-order mark. A gzip-compressed file
// (gz_file.h: by its magic bytes) is read as its contents. A final newline
// does not make an extra empty line. Returns the first error `visit`
// returns, without reading further; errno's canonical code (NOT_FOUND,
// PERMISSION_DENIED, ...) if the file cannot be opened or read, as
// "path: cannot open: ..."; DATA_LOSS, naming the file, for a corrupt or
// truncated gzip stream.
absl::Status ForEachLine(const std::string& path, LineVisitor visit);

// "path:line", the prefix of every error about one line of a file.
inline std::string LineLocation(const std::string& path, int64_t line_number) {
  return absl::StrCat(path, ":", line_number);
}

// Parses a whole number written as an integer ("3", "+1", "-1") or as a
// real with no fractional part ("3.0", "1e2"), as tools that write every
// column as floating point produce. Returns false, leaving *out unspecified,
// for anything else: text, "2.5", NaN, or a value outside int64.
inline bool ParseWholeNumber(absl::string_view text, int64_t* out) {
  if (absl::SimpleAtoi(text, out)) return true;
  double value;
  if (!absl::SimpleAtod(text, &value) || std::floor(value) != value) {
    return false;
  }
  // 2^63 is exactly representable; anything at or beyond it overflows.
  if (std::fabs(value) >= 9223372036854775808.0) return false;
  *out = static_cast<int64_t>(value);
  return true;
}

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_TEXT_LINES_H_
