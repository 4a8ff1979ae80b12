#include "common/data/libsvm_reader.h"

#include <filesystem>
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
using ::testing::Not;
using ::testing::Pointwise;

LibsvmOptions Options(bool zero_based, int64_t num_features, bool regression,
                      int32_t num_classes) {
  LibsvmOptions options;
  options.zero_based = zero_based;
  options.num_features = num_features;
  options.regression = regression;
  options.num_classes = num_classes;
  return options;
}

// Base undecided (as a config leaves it), capped at `max_features`.
LibsvmOptions Capped(int64_t max_features) {
  LibsvmOptions options;
  options.max_features = max_features;
  return options;
}

TEST(ReadLibsvm, MaxFeaturesIsTheWidestFeatureSpaceInEitherBase) {
  // 1-based (no index 0): index 4 is feature 3, inside a cap of 4.
  auto one_based = ReadLibsvm(WriteTempFile("cap1.svm", "1 4:1\n"), Capped(4));
  ASSERT_TRUE(one_based.ok()) << one_based.status();
  EXPECT_EQ(one_based->num_features, 4);
  // The same index in a file that turns out 0-based (index 0 on a later
  // line) is feature 4: beyond the cap, said once the base is known.
  const std::string path = WriteTempFile("cap0.svm", "1 4:1\n0 0:1\n");
  auto zero_based = ReadLibsvm(path, Capped(4));
  ASSERT_EQ(zero_based.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero_based.status().message(),
              HasSubstr(path + ": index 0 occurs at line 2"));
  EXPECT_THAT(zero_based.status().message(), HasSubstr("max_features = 4"));
  // Told 0-based, the error comes at the line itself.
  LibsvmOptions told = Capped(4);
  told.zero_based = true;
  auto at_line = ReadLibsvm(path, told);
  EXPECT_THAT(at_line.status().message(), HasSubstr(path + ":1: feature "
                                                           "index 4"));
}

TEST(ReadLibsvm, ReadsBinaryPlusMinusOneFile) {
  const std::string path = WriteTempFile("a.svm",
                                         "# a comment line\n"
                                         "+1 1:0.5 3:-2 # trailing comment\r\n"
                                         "-1 qid:7 2:1e-1\n"
                                         "\n"
                                         "1\t4:3\n");
  auto data = ReadLibsvm(path, {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 3);
  EXPECT_EQ(data->num_features, 4);  // largest 1-based index
  EXPECT_EQ(data->num_classes, 2);
  EXPECT_THAT(data->row_offsets, ElementsAre(0, 2, 3, 4));
  EXPECT_THAT(data->indices, ElementsAre(0, 2, 1, 3));
  EXPECT_THAT(data->values, Pointwise(FloatEq(), {0.5f, -2.f, 0.1f, 3.f}));
  EXPECT_THAT(data->labels, ElementsAre(1, 0, 1));
  EXPECT_TRUE(data->targets.empty());
  EXPECT_EQ(data->row_size(2), 1);
}

TEST(ReadLibsvm, OnlyMinusOneStillMakesTwoClasses) {
  auto data = ReadLibsvm(WriteTempFile("a.svm", "-1 1:1\n"), {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes, 2);
  EXPECT_THAT(data->labels, ElementsAre(0));
}

TEST(ReadLibsvm, ReadsMulticlassZeroBasedWithGivenShape) {
  const std::string path = WriteTempFile("a.svm", "2 0:1 5:2\n0\n1.0 3:4\n");
  auto data = ReadLibsvm(path, Options(true, 10, false, 5));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_features, 10);
  EXPECT_EQ(data->num_classes, 5);
  EXPECT_THAT(data->row_offsets, ElementsAre(0, 2, 2, 3));
  EXPECT_THAT(data->indices, ElementsAre(0, 5, 3));
  EXPECT_THAT(data->labels, ElementsAre(2, 0, 1));

  data = ReadLibsvm(path, Options(true, 0, false, 0));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_features, 6);  // largest 0-based index + 1
  EXPECT_EQ(data->num_classes, 3);
}

TEST(ReadLibsvm, ReadsRegressionTargets) {
  auto data = ReadLibsvm(WriteTempFile("a.svm", "-0.5 1:1\n2.25 2:1\n"),
                         Options(false, 0, true, 0));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes, 0);
  EXPECT_TRUE(data->labels.empty());
  EXPECT_THAT(data->targets, Pointwise(FloatEq(), {-0.5f, 2.25f}));
}

TEST(ReadLibsvmDense, FillsZerosWhereNothingIsStored) {
  auto data = ReadLibsvmDense(WriteTempFile("a.svm", "1 1:1 3:3\n0 2:2\n"), {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 2);
  EXPECT_EQ(data->num_features, 3);
  EXPECT_EQ(data->num_classes, 2);
  EXPECT_THAT(data->features,
              Pointwise(FloatEq(), {1.f, 0.f, 3.f, 0.f, 2.f, 0.f}));
  EXPECT_THAT(data->labels, ElementsAre(1, 0));
}

TEST(ReadLibsvmDense, RefusesAHugeDenseCopy) {
  auto data =
      ReadLibsvmDense(WriteTempFile("a.svm", "1 1:1\n"),
                      Options(false, kMaxDenseLibsvmFloats + 1, false, 0));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(data.status().message(), HasSubstr("ReadLibsvm"));
}

// The shape libFuzzer found (an index near 2^62, uncapped): examples x
// features does not fit in 64 bits, and the dense copy is refused by
// division, not by an overflowing product.
TEST(ReadLibsvmDense, RefusesAFeatureSpaceWhoseSizeOverflowsAProduct) {
  const std::string path = WriteTempFile(
      "wide.svm", "1\n0\n5\n2\n51\n55\n101\n-10\n0 3333333333334999998:3\n");
  auto sparse = ReadLibsvm(path, Options(true, 0, false, 0));
  ASSERT_TRUE(sparse.ok()) << sparse.status();
  EXPECT_EQ(sparse->num_examples, 9);
  EXPECT_EQ(sparse->num_features, int64_t{3333333333334999999});
  auto dense = ReadLibsvmDense(path, Options(true, 0, false, 0));
  EXPECT_EQ(dense.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(dense.status().message(), HasSubstr("9 examples x"));
}

TEST(ReadLibsvm, MissingFileIsNotFound) {
  auto data = ReadLibsvm(::testing::TempDir() + "/no_such_file.svm", {});
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(), HasSubstr("no_such_file.svm"));
}

struct BadCase {
  const char* name;
  std::string text;
  LibsvmOptions options;
  std::string location;  // appended to the path: ":3:" or ":"
  std::vector<std::string> words;
};

// One malformed file per error rule, each rejected as INVALID_ARGUMENT with
// a message naming the file, the line, the token and the problem.
TEST(ReadLibsvm, RejectsEachMalformedInput) {
  const LibsvmOptions one_based;
  const std::vector<BadCase> cases = {
      {"no_colon",
       "1 1:1\n0 2\n",
       one_based,
       ":2:",
       {"bad feature token \"2\"", "<index>:<value>"}},
      {"bad_value", "1 3:x\n", one_based, ":1:", {"\"3:x\"", "<index>"}},
      {"bad_index", "1 a:1\n", one_based, ":1:", {"\"a:1\""}},
      {"index_zero",
       "1 1:1\n1 0:1.5\n",
       Options(false, 0, false, 0),
       ":2:",
       {"feature index 0 in \"0:1.5\"", "1-based", "zero_based"}},
      {"negative_index",
       "1 -2:1\n",
       Options(true, 0, false, 0),
       ":1:",
       {"\"-2:1\"", "negative"}},
      {"not_increasing",
       "1 2:1 5:1 5:2\n",
       one_based,
       ":1:",
       {"\"5:2\"", "previous index 5", "strictly increasing"}},
      {"decreasing",
       "1 5:1 2:1\n",
       one_based,
       ":1:",
       {"\"2:1\"", "previous index 5"}},
      {"out_of_range",
       "1 10:1\n1 11:1\n",
       Options(false, 10, false, 0),
       ":2:",
       {"\"11:1\"", "out of range", "num_features = 10", "1..10"}},
      {"beyond_max_features",
       "1 1:1\n1 3000000:1\n",
       Capped(1 << 20),
       ":2:",
       {"feature index 3000000 in \"3000000:1\"", "beyond",
        "max_features = 1048576", "indices up to 1048576"}},
      {"huge_index",
       "1 1:1\n0 9223372036854775806:1\n",
       Capped(1 << 20),
       ":2:",
       {"feature index 9223372036854775806", "max_features = 1048576"}},
      {"nan_value", "1 1:nan\n", one_based, ":1:", {"\"1:nan\"", "not finite"}},
      {"inf_value", "1 1:-inf\n", one_based, ":1:", {"\"1:-inf\"", "finite"}},
      {"text_label", "yes 1:1\n", one_based, ":1:", {"bad label \"yes\""}},
      {"fractional_label",
       "0.5 1:1\n",
       one_based,
       ":1:",
       {"bad label \"0.5\""}},
      {"label_too_big",
       "3 1:1\n",
       Options(false, 0, false, 3),
       ":1:",
       {"bad label \"3\"", "num_classes = 3"}},
      {"bad_target",
       "nan 1:1\n",
       Options(false, 0, true, 0),
       ":1:",
       {"bad label \"nan\"", "finite"}},
      {"bad_qid", "1 qid:x 1:1\n", one_based, ":1:", {"\"qid:x\""}},
      {"empty", "", one_based, ":", {"empty file"}},
      {"only_comments", "# nothing\n\n", one_based, ":", {"no examples"}},
      {"bad_options",
       "1 1:1\n",
       Options(false, -1, false, 0),
       ":",
       {"invalid LIBSVM options"}},
  };
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.name);
    const std::string path = WriteTempFile(bad.name, bad.text);
    auto data = ReadLibsvm(path, bad.options);
    ASSERT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument)
        << data.status();
    EXPECT_THAT(data.status().message(), HasSubstr(path + bad.location));
    for (const std::string& word : bad.words) {
      EXPECT_THAT(data.status().message(), HasSubstr(word));
    }
  }
}

TEST(ReadLibsvm, DetectsTheIndexBaseUnlessTold) {
  LibsvmIndexBase base;
  // Index 0 occurs (on line 2): 0-based, as scikit-learn writes.
  auto data =
      ReadLibsvm(WriteTempFile("zero.svm", "1 1:1 3:2\n0 0:5\n"), {}, &base);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_TRUE(base.zero_based);
  EXPECT_EQ(base.zero_line, 2);
  EXPECT_EQ(data->num_features, 4);
  EXPECT_THAT(data->indices, ElementsAre(1, 3, 0));
  // Never: 1-based, LIBSVM's convention.
  data = ReadLibsvm(WriteTempFile("one.svm", "1 1:1 3:2\n0 2:5\n"), {}, &base);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_FALSE(base.zero_based);
  EXPECT_EQ(data->num_features, 3);
  EXPECT_THAT(data->indices, ElementsAre(0, 2, 1));
  // Told 0-based, a file without index 0 keeps its indices.
  data = ReadLibsvm(WriteTempFile("told.svm", "1 1:1 3:2\n"),
                    Options(true, 0, false, 0), &base);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_TRUE(base.zero_based);
  EXPECT_THAT(data->indices, ElementsAre(1, 3));
}

// Labels 1..K make K classes, not K + 1 with class 0 never seen.
TEST(ReadLibsvm, EncodesLabelsThatAreNotZeroToK) {
  auto data = ReadLibsvm(WriteTempFile("a.svm", "1 1:1\n3 1:1\n2 1:1\n"), {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes, 3);
  EXPECT_THAT(data->labels, ElementsAre(0, 2, 1));
  EXPECT_THAT(data->class_names, ElementsAre("1", "2", "3"));
  // -1, 0, +1 (three classes) are encoded in order too.
  data = ReadLibsvm(WriteTempFile("b.svm", "-1 1:1\n+1 1:1\n0 1:1\n"), {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->labels, ElementsAre(0, 2, 1));
  EXPECT_THAT(data->class_names, ElementsAre("-1", "0", "1"));
}

// A small gzip file can hold many times its size in lines: they arrive
// in pieces of the file's size and are split across them correctly.
TEST(ReadLibsvm, GzipFileFarLargerUnpackedReadsEveryLine) {
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += absl::StrCat(i % 2 == 0 ? "+1" : "-1", " ", 1 + i % 7, ":0.5 ",
                         8 + i % 3, ":-2\n");
  }
  const std::string path = WriteGzipTempFile("many.svm.gz", text);
  ASSERT_LT(std::filesystem::file_size(path) * 20, text.size());
  auto data = ReadLibsvm(path, {});
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->num_examples, 20000);
  ASSERT_EQ(data->indices.size(), size_t{40000});
  for (int i = 0; i < 20000; i += 37) {
    ASSERT_EQ(data->labels[i], i % 2 == 0 ? 1 : 0) << i;
    ASSERT_EQ(data->indices[2 * i], i % 7) << i;
    ASSERT_EQ(data->indices[2 * i + 1], 7 + i % 3) << i;
  }
}

TEST(ReadLibsvm, ReadsGzipAndRejectsCorruptGzipByName) {
  const std::string text = "+1 1:0.5 3:-2\n-1 2:1\n";
  auto data = ReadLibsvm(WriteGzipTempFile("a.svm.gz", text), {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->labels, ElementsAre(1, 0));
  EXPECT_THAT(data->indices, ElementsAre(0, 2, 1));
  // gzip's magic bytes, then garbage: an error about the stream, not a
  // "bad label" made of compressed bytes.
  const std::string path =
      WriteTempFile("bad.svm.gz", std::string("\x1f\x8b\x08\x00", 4) +
                                      std::string(64, '\x7f'));
  data = ReadLibsvm(path, {});
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << data.status();
  EXPECT_THAT(data.status().message(), HasSubstr(path + ": "));
  EXPECT_THAT(data.status().message(), Not(HasSubstr("bad label")));
}

}  // namespace
}  // namespace descent
