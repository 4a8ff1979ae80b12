#include "common/data/triples_reader.h"

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/data/text_lines.h"
#include "common/status_macros.h"

namespace descent {
namespace {

absl::Status LineError(const std::string& path, int64_t line,
                       absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(LineLocation(path, line), ": ", problem));
}

// A user or item id (`what`). SimpleAtoi into an unsigned type would take
// "-1" as 2^64 - 1, so a sign is refused first.
absl::StatusOr<uint64_t> ReadId(const std::string& path, int64_t line,
                                const char* what, absl::string_view text) {
  uint64_t id;
  if (absl::StartsWith(text, "-") || !absl::SimpleAtoi(text, &id)) {
    return LineError(
        path, line,
        absl::StrFormat("%s id \"%s\" is not a non-negative integer", what,
                        text));
  }
  return id;
}

// Appends the rating on one non-blank, non-comment line to `triples`.
absl::Status ReadTriple(const std::string& path, int64_t line,
                        const std::vector<absl::string_view>& fields,
                        RatingTriples* triples) {
  if (fields.size() != 3 && fields.size() != 4) {
    return LineError(path, line,
                     absl::StrFormat("expected 3 fields (user item rating) or "
                                     "4 (user item rating timestamp), found %d",
                                     fields.size()));
  }
  ASSIGN_OR_RETURN(const uint64_t user, ReadId(path, line, "user", fields[0]));
  ASSIGN_OR_RETURN(const uint64_t item, ReadId(path, line, "item", fields[1]));
  float rating;
  int64_t timestamp;
  if (!absl::SimpleAtof(fields[2], &rating) || !std::isfinite(rating)) {
    return LineError(
        path, line,
        absl::StrFormat("rating \"%s\" is not a finite number", fields[2]));
  }
  if (fields.size() == 4 && !absl::SimpleAtoi(fields[3], &timestamp)) {
    return LineError(
        path, line,
        absl::StrFormat("timestamp \"%s\" is not an integer", fields[3]));
  }
  triples->users.push_back(user);
  triples->items.push_back(item);
  triples->ratings.push_back(rating);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RatingTriples> ReadTriples(const std::string& path) {
  RatingTriples triples;
  int64_t lines = 0;
  RETURN_IF_ERROR(
      ForEachLine(path, [&](int64_t line_number, absl::string_view line) {
        lines = line_number;
        line = absl::StripAsciiWhitespace(line);
        if (line.empty() || absl::StartsWith(line, "#")) {
          return absl::OkStatus();
        }
        const std::vector<absl::string_view> fields = absl::StrSplit(
            line, absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
        return ReadTriple(path, line_number, fields, &triples);
      }));
  if (triples.size() == 0) {
    return absl::InvalidArgumentError(
        lines == 0 ? absl::StrCat(path, ": empty file")
                   : absl::StrFormat("%s: no ratings (%d lines, all blank or "
                                     "comments)",
                                     path, lines));
  }
  return triples;
}

}  // namespace descent
