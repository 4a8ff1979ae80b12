// Reading recommendation data as rating triples: one rating per line,
//   <user> <item> <rating> [<timestamp>]
// separated by spaces or tabs, as MovieLens' u.data writes it. User and item
// ids are non-negative 64-bit integers, used as they are (not remapped to a
// dense range); the rating is a finite real; an optional fourth field, an
// integer timestamp, is checked and ignored. Blank lines and lines starting
// with '#' are skipped; lines may end in "\n" or "\r\n". The file is
// streamed once. Thread-safe: ReadTriples shares no state.
//
// Every error names the file and, where one line is at fault, its 1-based
// line number and the offending field, e.g.
//   "ratings.tsv:41: user id \"-3\" is not a non-negative integer"
// Codes:
//   errno's canonical code (NOT_FOUND, ...)  the file cannot be opened/read
//   INVALID_ARGUMENT  no ratings; a line without 3 or 4 fields; a bad user or
//                     item id; a rating that is not a finite number; a bad
//                     timestamp
#ifndef DESCENT_COMMON_DATA_TRIPLES_READER_H_
#define DESCENT_COMMON_DATA_TRIPLES_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace descent {

// Ratings in file order: rating k is ratings[k], by users[k] of items[k].
// The three vectors always have the same length. The same (user, item) pair
// may appear more than once.
struct RatingTriples {
  std::vector<uint64_t> users;
  std::vector<uint64_t> items;
  std::vector<float> ratings;

  int64_t size() const { return static_cast<int64_t>(ratings.size()); }
};

// Reads every rating in the file at `path`; see above for the errors. On
// error nothing is returned.
absl::StatusOr<RatingTriples> ReadTriples(const std::string& path);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_TRIPLES_READER_H_
