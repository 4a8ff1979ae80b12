#include "common/data/csv_reader.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/temp_file.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
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
  // Labels 0 and 2 are not 0..K-1: encoded as classes 0 and 1.
  EXPECT_EQ(data->num_classes, 2);
  EXPECT_THAT(data->features, Pointwise(FloatEq(), {1.f, 2.5f, -3.f, 40.f}));
  EXPECT_THAT(data->labels, ElementsAre(0, 1));
  EXPECT_THAT(data->class_names, ElementsAre("0", "2"));
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
      {"label_too_big",
       "a,y\n1,3\n",
       WithClasses(3),
       ":2:",
       {"class label 3 is not below num_classes = 3"}},
      {"empty", "", {}, ":", {"empty file"}},
      {"header_only", "a,y\n\n", {}, ":", {"no data rows"}},
      {"nan", "a,y\nnan,0\n", {}, ":2:", {"\"nan\"", "not finite"}},
      {"inf", "a,y\n1e39,0\n", {}, ":2:", {"\"1e39\"", "not finite"}},
      {"quote_inside",
       "a,y\n1\"2,0\n",
       {},
       ":2:",
       {"column 0", "double quote inside an unquoted field"}},
      {"after_quote",
       "a,y\n1,0\n\"1\"x,0\n",
       {},
       ":3:",
       {"column 0", "text after the closing quote"}},
      {"metadata_line",
       "3,2,no,yes\n0.5,1.5,1\n2.5,1,0\n",
       {},
       ":2:",
       {"expected 4 fields (as on the header, line 1), found 3",
        "if line 1 is not part of the table, set skip_lines: 1"}},
      {"never_closed",
       "a,y\n1,0\n\"1,0\n2,1\n",
       {},
       ":3:",
       {"quoted field is never closed"}},
      {"too_many_labels",
       "a,y\n1,x\n2,y\n3,z\n",
       WithClasses(2),
       ":",
       {"3 distinct class labels", "num_classes = 2"}},
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

// How those files are read: the metadata line skipped, no header.
CsvOptions SklearnOptions() {
  CsvOptions options;
  options.skip_lines = 1;
  options.header = false;
  return options;
}

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
  const CsvOptions options = SklearnOptions();
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
  auto data = ReadCsv(path, SklearnOptions());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(std::vector<float>(data->example(0), data->example(1)),
              Pointwise(FloatEq(), {5.1f, 3.5f, 1.4f, 0.2f}));
  EXPECT_EQ(data->labels[0], 0);
  EXPECT_EQ(data->labels[149], 2);
}

// Header detection: the first line is a header when one of its fields is
// not a number where the next line's is; string labels do not count.
TEST(ReadCsv, DetectsHeaderUnlessTold) {
  struct Case {
    const char* name;
    std::string text;
    int64_t examples;
  };
  const std::vector<Case> cases = {
      {"named", "x,y,label\n1,2,0\n3,4,1\n", 2},
      {"headerless", "1,2,0\n3,4,1\n5,6,0\n", 3},
      {"string_labels", "5.1,3.5,setosa\n4.9,3.0,virginica\n", 2},
      {"named_string_labels", "a,b,species\n5.1,3.5,setosa\n", 1},
      {"numbered_columns", "0,1,target\n5,6,1\n", 1},
      {"empty_index_name", ",a,y\n0,1.5,1\n1,2.5,0\n", 2},
      {"one_line", "1,2,0\n", 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto data = ReadCsv(WriteTempFile(c.name, c.text), CsvOptions{});
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->num_examples, c.examples);
  }
  // Told, the reader obeys: a numeric first line as a header, and a
  // header-looking first line refused as data.
  CsvOptions header;
  header.header = true;
  auto data = ReadCsv(WriteTempFile("forced.csv", "1,2,0\n3,4,1\n"), header);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 1);
  CsvOptions no_header;
  no_header.header = false;
  data = ReadCsv(WriteTempFile("refused.csv", "x,y\n1,0\n"), no_header);
  EXPECT_THAT(data.status().message(), HasSubstr(":1: column 0: value \"x\""));
}

TEST(ReadCsv, DelimiterDefaultsToTabForTsvAndCanBeSet) {
  for (const char* name : {"a.tsv", "a.tsv.gz"}) {
    SCOPED_TRACE(name);
    const std::string text = "a\tb\ty\n1\t2\t0\n3\t4\t1\n";
    const std::string path = absl::EndsWith(name, ".gz")
                                 ? WriteGzipTempFile(name, text)
                                 : WriteTempFile(name, text);
    auto data = ReadCsv(path, CsvOptions{});
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->num_features, 2);
    EXPECT_THAT(data->features, Pointwise(FloatEq(), {1.f, 2.f, 3.f, 4.f}));
  }
  CsvOptions pipes;
  pipes.delimiter = '|';
  auto data = ReadCsv(WriteTempFile("a.txt", "1|2|0\n3|4|1\n"), pipes);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->features, Pointwise(FloatEq(), {1.f, 2.f, 3.f, 4.f}));
}

TEST(ParseCsvDelimiter, TakesOneCharacterOrBackslashT) {
  EXPECT_EQ(ParseCsvDelimiter(""), '\0');  // by file name
  EXPECT_EQ(ParseCsvDelimiter(";"), ';');
  EXPECT_EQ(ParseCsvDelimiter("\t"), '\t');
  EXPECT_EQ(ParseCsvDelimiter("\\t"), '\t');
  for (const char* bad : {";;", "\"", "\n", "\r", "\\n"}) {
    EXPECT_EQ(ParseCsvDelimiter(bad), std::nullopt) << bad;
  }
}

TEST(ReadCsv, ReadsRfc4180QuotedFields) {
  const std::string path = WriteTempFile("a.csv",
                                         "\"x, first\",\"y \"\"2\"\"\",label\n"
                                         "\"1.5\", 2 ,\"a, b\"\n"
                                         "3,\"4\",\"say \"\"hi\"\"\"\n"
                                         "5,6,\"two\nlines\"\n"
                                         "7,8,\"a, b\"\n");
  CsvOptions options;
  options.label_column = "label";
  auto data = ReadCsv(path, options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 4);
  EXPECT_THAT(data->features,
              Pointwise(FloatEq(), {1.5f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f}));
  EXPECT_THAT(data->class_names,
              ElementsAre("a, b", "say \"hi\"", "two\nlines"));
  EXPECT_THAT(data->labels, ElementsAre(0, 1, 2, 0));
  // A quoted field's header name, in an error about a later line.
  auto bad = ReadCsv(WriteTempFile("b.csv", "\"x, first\",y\n1,0\n,1\n"),
                     CsvOptions{});
  EXPECT_THAT(bad.status().message(),
              HasSubstr(":3: column \"x, first\" (0) is empty"));
}

TEST(ReadCsv, EncodesStringAndNonContiguousLabels) {
  struct Case {
    const char* name;
    std::string labels;  // one per line
    std::vector<int32_t> ids;
    std::vector<std::string> names;  // empty: the labels are the ids
  };
  const std::vector<Case> cases = {
      {"strings",
       "virginica setosa versicolor setosa",
       {2, 0, 1, 0},
       {"setosa", "versicolor", "virginica"}},
      {"one_to_k", "1 3 2 3", {0, 2, 1, 2}, {"1", "2", "3"}},
      {"plus_minus", "-1 1 1.0 +1", {0, 1, 1, 1}, {"-1", "1"}},
      {"numbers_by_value", "10 9 -3", {2, 1, 0}, {"-3", "9", "10"}},
      {"mixed", "b 2 a 0", {3, 1, 2, 0}, {"0", "2", "a", "b"}},
      {"zero_to_k", "2 0 1.0 1", {2, 0, 1, 1}, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string text = "f,y\n";
    for (absl::string_view label : absl::StrSplit(c.labels, ' ')) {
      absl::StrAppend(&text, "1,", label, "\n");
    }
    auto data = ReadCsv(WriteTempFile(c.name, text), CsvOptions{});
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_THAT(data->labels, ElementsAreArray(c.ids));
    EXPECT_THAT(data->class_names, ElementsAreArray(c.names));
    EXPECT_EQ(data->num_classes,
              c.names.empty() ? 3 : static_cast<int32_t>(c.names.size()));
  }
  // num_classes given: numeric labels below it keep their values.
  auto data =
      ReadCsv(WriteTempFile("given.csv", "f,y\n1,1\n2,3\n"), WithClasses(5));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->labels, ElementsAre(1, 3));
  EXPECT_TRUE(data->class_names.empty());
  EXPECT_EQ(data->num_classes, 5);
}

TEST(ReadCsv, ReadsGzipByItsMagicBytes) {
  const std::string text = "a,y\n1,0\n2,1\n";
  for (const char* name : {"a.csv.gz", "gzip_named_plain.csv"}) {
    SCOPED_TRACE(name);
    auto data = ReadCsv(WriteGzipTempFile(name, text), CsvOptions{});
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_THAT(data->features, Pointwise(FloatEq(), {1.f, 2.f}));
    EXPECT_THAT(data->labels, ElementsAre(0, 1));
  }
}

TEST(ReadCsv, CorruptOrTruncatedGzipIsDataLossNamingTheFile) {
  std::string text = "a,b,y\n";
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&text, i, ",", i * 7, ",1\n");
  const std::string good = WriteGzipTempFile("good.csv.gz", text);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  std::string corrupt = bytes;
  for (size_t i = 20; i < corrupt.size() - 8; i += 7) corrupt[i] ^= 0x5a;
  const std::string cases[][2] = {
      {"corrupt.csv.gz", corrupt},
      {"truncated.csv.gz", bytes.substr(0, bytes.size() / 2)},
  };
  for (const auto& [name, contents] : cases) {
    SCOPED_TRACE(name);
    const std::string path = WriteTempFile(name, contents);
    auto data = ReadCsv(path, CsvOptions{});
    ASSERT_EQ(data.status().code(), absl::StatusCode::kDataLoss)
        << data.status();
    EXPECT_THAT(data.status().message(), HasSubstr(path + ": "));
    EXPECT_THAT(data.status().message(), HasSubstr("gzip"));
  }
}

// Iris as a user writes it: no header, the species by name, and no
// metadata line. Every row is kept.
TEST(ReadCsv, IrisWithoutHeaderKeepsEveryRow) {
  const std::string path = absl::StrCat(kSklearnData, "iris.csv");
  if (access(path.c_str(), R_OK) != 0) GTEST_SKIP() << path << " not present";
  auto iris = ReadCsv(path, SklearnOptions());
  ASSERT_TRUE(iris.ok()) << iris.status();
  const char* species[] = {"setosa", "versicolor", "virginica"};
  std::string numeric, named;
  for (int64_t i = 0; i < iris->num_examples; ++i) {
    const float* x = iris->example(i);
    const std::string features =
        absl::StrCat(x[0], ",", x[1], ",", x[2], ",", x[3], ",");
    absl::StrAppend(&numeric, features, iris->labels[i], "\n");
    absl::StrAppend(&named, features, species[iris->labels[i]], "\n");
  }
  for (const auto& [name, text] :
       {std::pair<std::string, std::string>{"numeric.csv", numeric},
        {"named.csv", named}}) {
    SCOPED_TRACE(name);
    auto data = ReadCsv(WriteTempFile(name, text), CsvOptions{});
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->num_examples, 150);
    EXPECT_EQ(data->labels, iris->labels);
    EXPECT_EQ(data->num_classes, 3);
  }
  // The bundled file itself, metadata line and all, without options: the
  // metadata line ("150,4,setosa,...") is taken as a header.
  auto bundled = ReadCsv(path, CsvOptions{});
  ASSERT_TRUE(bundled.ok()) << bundled.status();
  EXPECT_EQ(bundled->num_examples, 150);
}

}  // namespace
}  // namespace descent
