#include "common/data/csv_reader.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/temp_file.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;
using ::testing::Pointwise;

TEST(ReadCsv, ReadsHeaderAndLastColumnLabel) {
  const std::string path =
      WriteTempFile("a.csv", "x,y,label\n1,2.5,0\n-3,4e1,2\n");
  auto data = ReadCsv(path, CsvOptions{});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 2);
  EXPECT_EQ(data->num_features, 2);
  EXPECT_EQ(data->num_classes, 3);
  EXPECT_THAT(data->features, Pointwise(FloatEq(), {1.f, 2.5f, -3.f, 40.f}));
  EXPECT_THAT(data->labels, ElementsAre(0, 2));
  EXPECT_TRUE(data->targets.empty());
}

TEST(ReadCsv, FindsLabelByNameOrIndex) {
  const std::string path = WriteTempFile("a.csv", "a,cls,b\n1,1,2\n3,0,4\n");
  CsvOptions by_name;
  by_name.label_column = "cls";
  CsvOptions by_index;
  by_index.label_index = 1;
  for (const CsvOptions& options : {by_name, by_index}) {
    auto data = ReadCsv(path, options);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_THAT(data->features, Pointwise(FloatEq(), {1.f, 2.f, 3.f, 4.f}));
    EXPECT_THAT(data->labels, ElementsAre(1, 0));
  }
}

TEST(ReadCsv, ReadsRegressionTargetsAndGivenClassCount) {
  const std::string path = WriteTempFile("a.csv", "a,t\n1,0.25\n2,3.0\n");
  CsvOptions regression;
  regression.regression = true;
  auto data = ReadCsv(path, regression);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes, 0);
  EXPECT_TRUE(data->labels.empty());
  EXPECT_THAT(data->targets, Pointwise(FloatEq(), {0.25f, 3.f}));

  CsvOptions classes;
  classes.num_classes = 10;
  data = ReadCsv(WriteTempFile("b.csv", "a,t\n1,0\n2,3.0\n"), classes);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes, 10);
  EXPECT_THAT(data->labels, ElementsAre(0, 3));  // "3.0" is a whole number
}

TEST(ReadCsv, HandlesCrlfBlankLinesSpacesAndMissingFinalNewline) {
  const std::string path = WriteTempFile("a.csv",
                                         "\xEF\xBB\xBF"
                                         "a; b ;y\r\n\r\n 1 ; 2;1\r\n\n3;4 ;0");
  CsvOptions options;
  options.delimiter = ';';
  options.label_column = "y";
  auto data = ReadCsv(path, options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 2);
  EXPECT_THAT(data->features, Pointwise(FloatEq(), {1.f, 2.f, 3.f, 4.f}));
  EXPECT_THAT(data->labels, ElementsAre(1, 0));
}

TEST(ReadCsv, SkipsLinesAndReadsWithoutHeader) {
  const std::string path = WriteTempFile("a.csv", "2,1,a,b\n0.5,1\n1.5,0\n");
  CsvOptions options;
  options.skip_lines = 1;
  options.header = false;
  auto data = ReadCsv(path, options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_features, 1);
  EXPECT_THAT(data->features, Pointwise(FloatEq(), {0.5f, 1.5f}));
  EXPECT_THAT(data->labels, ElementsAre(1, 0));
}

TEST(ReadCsv, MissingFileIsNotFound) {
  auto data = ReadCsv(::testing::TempDir() + "/no_such_file.csv", {});
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(), HasSubstr("no_such_file.csv"));
}

struct BadCase {
  const char* name;
  std::string text;
  CsvOptions options;
  std::string location;  // appended to the path: ":3:" or ":"
  std::vector<std::string> words;
};

CsvOptions WithLabel(const std::string& column) {
  CsvOptions options;
  options.label_column = column;
  return options;
}

CsvOptions WithClasses(int32_t num_classes) {
  CsvOptions options;
  options.num_classes = num_classes;
  return options;
}

CsvOptions Without(bool header, bool regression, int32_t num_classes) {
  CsvOptions options;
  options.header = header;
  options.regression = regression;
  options.num_classes = num_classes;
  options.label_column = header ? "" : "y";
  return options;
}

// One malformed file per error rule, each rejected as INVALID_ARGUMENT with
// a message naming the file, the line and the problem.
TEST(ReadCsv, RejectsEachMalformedInput) {
  const std::vector<BadCase> cases = {
      {"missing",
       "id,age,y\n1,2,0\n1,,0\n",
       {},
       ":3:",
       {"column \"age\" (1) is empty (missing value)"}},
      {"non_numeric",
       "a,y\n1,0\nabc,1\n",
       {},
       ":3:",
       {"column \"a\" (0)", "\"abc\"", "not a number"}},
      {"field_count",
       "a,b,y\n1,2,0\n1,2\n",
       {},
       ":3:",
       {"expected 3 fields", "found 2"}},
      {"no_label_name",
       "a,b\n1,2\n",
       WithLabel("y"),
       ":1:",
       {"label column \"y\" not found", "a, b"}},
      {"no_label_index",
       "a,b\n1,2\n",
       [] {
         CsvOptions options;
         options.label_index = 5;
         return options;
       }(),
       ":1:",
       {"label column 5 not found", "2 columns"}},
      {"fractional_label",
       "a,y\n1,1.5\n",
       {},
       ":2:",
       {"class label \"1.5\" is not an integer"}},
      {"negative_label",
       "a,y\n1,0\n2,-1\n",
       {},
       ":3:",
       {"column \"y\" (1)", "class label -1 is negative"}},
      {"label_too_big",
       "a,y\n1,3\n",
       WithClasses(3),
       ":2:",
       {"class label 3 is not below num_classes = 3"}},
      {"empty", "", {}, ":", {"empty file"}},
      {"header_only", "a,y\n\n", {}, ":", {"no data rows"}},
      {"nan", "a,y\nnan,0\n", {}, ":2:", {"\"nan\"", "not finite"}},
      {"inf", "a,y\n1e39,0\n", {}, ":2:", {"\"1e39\"", "not finite"}},
      {"quote",
       "a,y\n\"1\",0\n",
       {},
       ":2:",
       {"column \"a\" (0)", "double quote", "not supported"}},
      {"quoted_header", "\"a\",y\n1,0\n", {}, ":1:", {"double quote"}},
      {"name_without_header",
       "1,0\n",
       Without(false, false, 0),
       ":",
       {"label_column needs header"}},
      {"regression_classes",
       "a,y\n1,0\n",
       Without(true, true, 2),
       ":",
       {"num_classes must be 0 for regression"}},
  };
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.name);
    const std::string path = WriteTempFile(bad.name, bad.text);
    auto data = ReadCsv(path, bad.options);
    ASSERT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument)
        << data.status();
    EXPECT_THAT(data.status().message(), HasSubstr(path + bad.location));
    for (const std::string& word : bad.words) {
      EXPECT_THAT(data.status().message(), HasSubstr(word));
    }
  }
}

// scikit-learn's bundled CSVs (Debian's python3-sklearn): a metadata line
// "n_samples,n_features,class names...", no header, the class last.
constexpr char kSklearnData[] =
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/";

struct SklearnSet {
  const char* file;
  int64_t examples;
  int64_t features;
  std::vector<int64_t> class_counts;
};

TEST(ReadCsv, ReadsScikitLearnDatasets) {
  const std::vector<SklearnSet> sets = {
      {"breast_cancer.csv", 569, 30, {212, 357}},  // malignant, benign
      {"iris.csv", 150, 4, {50, 50, 50}},
      {"wine_data.csv", 178, 13, {59, 71, 48}},
  };
  CsvOptions options;
  options.skip_lines = 1;
  options.header = false;
  for (const SklearnSet& set : sets) {
    SCOPED_TRACE(set.file);
    const std::string path = absl::StrCat(kSklearnData, set.file);
    if (access(path.c_str(), R_OK) != 0) {
      GTEST_SKIP() << path << " not present (install python3-sklearn)";
    }
    auto data = ReadCsv(path, options);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->num_examples, set.examples);
    EXPECT_EQ(data->num_features, set.features);
    EXPECT_EQ(data->features.size(), set.examples * set.features);
    ASSERT_EQ(data->num_classes, static_cast<int32_t>(set.class_counts.size()));
    for (int c = 0; c < data->num_classes; ++c) {
      EXPECT_EQ(std::count(data->labels.begin(), data->labels.end(), c),
                set.class_counts[c])
          << "class " << c;
    }
  }
}

TEST(ReadCsv, ReadsIrisFirstRowExactly) {
  const std::string path = absl::StrCat(kSklearnData, "iris.csv");
  if (access(path.c_str(), R_OK) != 0) GTEST_SKIP() << path << " not present";
  CsvOptions options;
  options.skip_lines = 1;
  options.header = false;
  auto data = ReadCsv(path, options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(std::vector<float>(data->example(0), data->example(1)),
              Pointwise(FloatEq(), {5.1f, 3.5f, 1.4f, 0.2f}));
  EXPECT_EQ(data->labels[0], 0);
  EXPECT_EQ(data->labels[149], 2);
}

}  // namespace
}  // namespace descent
