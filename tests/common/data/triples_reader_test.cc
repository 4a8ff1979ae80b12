#include "common/data/triples_reader.h"

#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/temp_file.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;
using ::testing::Pointwise;

TEST(ReadTriples, ReadsRatingsInFileOrder) {
  const std::string path = WriteTempFile("a.tsv",
                                         "# user item rating\n"
                                         "196\t242\t3\t881250949\r\n"
                                         "\n"
                                         "  18446744073709551615 0 -0.5\n"
                                         "7 9 4.25");
  auto triples = ReadTriples(path);
  ASSERT_TRUE(triples.ok()) << triples.status();
  EXPECT_EQ(triples->size(), 3);
  EXPECT_THAT(triples->users, ElementsAre(196u, 18446744073709551615u, 7u));
  EXPECT_THAT(triples->items, ElementsAre(242u, 0u, 9u));
  EXPECT_THAT(triples->ratings, Pointwise(FloatEq(), {3.f, -0.5f, 4.25f}));
}

TEST(ReadTriples, ReadsGzip) {
  auto triples = ReadTriples(WriteGzipTempFile("r.gz", "1 2 3.5\n4 5 1\n"));
  ASSERT_TRUE(triples.ok()) << triples.status();
  EXPECT_EQ(triples->size(), 2);
  EXPECT_EQ(triples->items[1], 5u);
  EXPECT_FLOAT_EQ(triples->ratings[0], 3.5f);
}

TEST(ReadTriples, MissingFileIsNotFound) {
  auto triples = ReadTriples(::testing::TempDir() + "/no_such_ratings.tsv");
  EXPECT_EQ(triples.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(triples.status().message(), HasSubstr("no_such_ratings.tsv"));
}

struct BadCase {
  const char* name;
  std::string text;
  std::string location;  // appended to the path: ":3:" or ":"
  std::vector<std::string> words;
};

// One malformed file per error rule, each rejected as INVALID_ARGUMENT with
// a message naming the file, the line, the field and the problem.
TEST(ReadTriples, RejectsEachMalformedInput) {
  const std::vector<BadCase> cases = {
      {"too_few", "1 2 3\n1 2\n", ":2:", {"expected 3 fields", "found 2"}},
      {"too_many", "1 2 3 4 5\n", ":1:", {"found 5"}},
      {"negative_user",
       "1 2 3\n-3 2 1\n",
       ":2:",
       {"user id \"-3\" is not a non-negative integer"}},
      {"text_item", "1 abc 3\n", ":1:", {"item id \"abc\""}},
      {"huge_item", "1 18446744073709551616 3\n", ":1:", {"item id"}},
      {"bad_rating", "1 2 good\n", ":1:", {"rating \"good\"", "finite"}},
      {"nan_rating", "1 2 nan\n", ":1:", {"rating \"nan\"", "finite"}},
      {"bad_timestamp",
       "1 2 3 yesterday\n",
       ":1:",
       {"timestamp \"yesterday\""}},
      {"empty", "", ":", {"empty file"}},
      {"only_comments", "# header\n\n", ":", {"no ratings"}},
  };
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.name);
    const std::string path = WriteTempFile(bad.name, bad.text);
    auto triples = ReadTriples(path);
    ASSERT_EQ(triples.status().code(), absl::StatusCode::kInvalidArgument)
        << triples.status();
    EXPECT_THAT(triples.status().message(), HasSubstr(path + bad.location));
    for (const std::string& word : bad.words) {
      EXPECT_THAT(triples.status().message(), HasSubstr(word));
    }
  }
}

}  // namespace
}  // namespace descent
