#include "common/data/data_source.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/config/config.h"
#include "common/partition.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/temp_file.h"

namespace descent {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::FloatEq;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pointwise;

// A CSV "a,b,label" of `n` lines: line i is (i, 100 + i, i % 3), so every
// row is recognized by its first feature.
std::string NumberedCsv(int n) {
  std::string text = "a,b,label\n";
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&text, i, ",", 100 + i, ",", i % 3, "\n");
  }
  return text;
}

v1::JobConfig WithDefaults(v1::JobConfig config) {
  ApplyDefaults(&config);
  return config;
}

// A softmax job (dense) on a CSV; `test` may be empty (hold-out).
v1::JobConfig CsvJob(const std::string& train, const std::string& test = "") {
  v1::JobConfig config;
  config.mutable_model()->mutable_softmax_regression();
  config.mutable_data()->mutable_csv()->set_train(train);
  config.mutable_data()->mutable_csv()->set_test(test);
  return WithDefaults(config);
}

// A job on a LIBSVM training and test file, with a sparse model
// (factorization machine) or a dense one (softmax regression).
v1::JobConfig LibsvmJob(const std::string& train, const std::string& test,
                        bool sparse) {
  v1::JobConfig config;
  if (sparse) {
    config.mutable_model()->mutable_factorization_machine();
  } else {
    config.mutable_model()->mutable_softmax_regression();
  }
  config.mutable_data()->mutable_libsvm()->set_train(train);
  config.mutable_data()->mutable_libsvm()->set_test(test);
  return WithDefaults(config);
}

// The first feature of every row of dense `data`.
std::vector<float> FirstColumn(const Dataset& data) {
  std::vector<float> column;
  for (int64_t i = 0; i < data.num_examples; ++i) {
    column.push_back(data.example(i)[0]);
  }
  return column;
}

// Concatenates the training shards of `source` for `num_shards` workers,
// checking each has the size SplitEvenly gives it.
Examples ConcatenatedShards(const DataSource& source, int64_t train_size,
                            int num_shards) {
  bool is_sparse = false;
  Dataset d;
  SparseDataset s;
  const std::vector<IndexRange> ranges = SplitEvenly(train_size, num_shards);
  for (int k = 0; k < num_shards; ++k) {
    absl::StatusOr<Examples> shard = source.LoadTrainShard(k, num_shards);
    EXPECT_TRUE(shard.ok()) << shard.status();
    if (!shard.ok()) return Examples();
    EXPECT_EQ(shard->size(), ranges[k].size()) << "shard " << k;
    is_sparse = shard->is_sparse();
    if (!is_sparse) {
      const Dataset& part = shard->dense();
      d.num_examples += part.num_examples;
      d.num_features = part.num_features;
      d.features.insert(d.features.end(), part.features.begin(),
                        part.features.end());
      d.labels.insert(d.labels.end(), part.labels.begin(), part.labels.end());
      continue;
    }
    const SparseDataset& part = shard->sparse();
    for (int64_t i = 0; i < part.num_examples; ++i) {
      for (int64_t e = part.row_offsets[i]; e < part.row_offsets[i + 1]; ++e) {
        s.indices.push_back(part.indices[e]);
        s.values.push_back(part.values[e]);
      }
      s.row_offsets.push_back(static_cast<int64_t>(s.indices.size()));
    }
    s.num_examples += part.num_examples;
    s.labels.insert(s.labels.end(), part.labels.begin(), part.labels.end());
  }
  return is_sparse ? Examples(std::move(s)) : Examples(std::move(d));
}

TEST(DataSource, CsvHoldsOutEveryTestEveryThLine) {
  v1::JobConfig config = CsvJob(WriteTempFile("a.csv", NumberedCsv(12)));
  config.mutable_data()->mutable_csv()->set_test_every(5);
  const DataSource source(config);

  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_FALSE(test->is_sparse());
  EXPECT_THAT(FirstColumn(test->dense()), ElementsAre(4.f, 9.f));
  EXPECT_THAT(test->dense().features, ElementsAre(4.f, 104.f, 9.f, 109.f));
  EXPECT_THAT(test->dense().labels, ElementsAre(1, 0));

  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_THAT(FirstColumn(train->dense()),
              ElementsAre(0.f, 1.f, 2.f, 3.f, 5.f, 6.f, 7.f, 8.f, 10.f, 11.f));
  EXPECT_THAT(train->dense().labels, ElementsAre(0, 1, 2, 0, 2, 0, 1, 2, 1, 2));

  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->train_examples, 10);
  EXPECT_EQ(description->num_features, 2);
  EXPECT_EQ(description->num_classes, 3);
}

// data.validation_fraction 0.25 of the 10 training lines (after the test
// split took 4 and 9): training examples i with floor((i + 1) / 4) >
// floor(i / 4), i = 3 and 7, i.e. file lines 3 and 8. They are in no shard.
TEST(DataSource, ValidationFractionHoldsOutEvenlySpacedTrainingExamples) {
  v1::JobConfig config = CsvJob(WriteTempFile("a.csv", NumberedCsv(12)));
  config.mutable_data()->set_validation_fraction(0.25);
  const DataSource source(config);
  absl::StatusOr<Examples> validation = source.LoadValidation();
  ASSERT_TRUE(validation.ok()) << validation.status();
  EXPECT_THAT(FirstColumn(validation->dense()), ElementsAre(3.f, 8.f));
  EXPECT_EQ(validation->dense().num_classes, 3);
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(FirstColumn(test->dense()), ElementsAre(4.f, 9.f));
  const Examples train = ConcatenatedShards(source, 8, 3);
  EXPECT_THAT(FirstColumn(train.dense()),
              ElementsAre(0.f, 1.f, 2.f, 5.f, 6.f, 7.f, 10.f, 11.f));
  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->train_examples, 8);
  EXPECT_EQ(description->validation_examples, 2);
  // Again: the same split.
  EXPECT_THAT(FirstColumn(DataSource(config).LoadValidation()->dense()),
              ElementsAre(3.f, 8.f));
}

TEST(DataSource, ValidationFileIsReadLikeTheTrainingFile) {
  v1::JobConfig config = CsvJob(WriteTempFile("train.csv", NumberedCsv(10)),
                                WriteTempFile("test.csv", NumberedCsv(2)));
  config.mutable_data()->mutable_csv()->set_validation(
      WriteTempFile("validation.csv", "a,b,label\n50,150,4\n"));
  const DataSource source(config);
  absl::StatusOr<Examples> validation = source.LoadValidation();
  ASSERT_TRUE(validation.ok()) << validation.status();
  EXPECT_THAT(FirstColumn(validation->dense()), ElementsAre(50.f));
  // Its label 4 joins every split's classes: labels 0, 1, 2 and 4 are not
  // 0..K-1, so all three files share one encoding, 4 as class 3.
  EXPECT_EQ(source.Describe()->num_classes, 4);
  EXPECT_EQ(source.LoadTest()->num_classes(), 4);
  EXPECT_THAT(validation->dense().labels, ElementsAre(3));
  EXPECT_THAT(source.Describe()->class_names, ElementsAre("0", "1", "2", "4"));
  EXPECT_EQ(source.Describe()->train_examples, 10);
}

TEST(DataSource, NoValidationConfiguredIsNoExamples) {
  const DataSource source(CsvJob(WriteTempFile("a.csv", NumberedCsv(12))));
  EXPECT_EQ(source.LoadValidation()->size(), 0);
}

TEST(DataSource, AFractionThatHoldsOutNothingIsAnError) {
  v1::JobConfig config = CsvJob(WriteTempFile("a.csv", NumberedCsv(6)));
  config.mutable_data()->set_validation_fraction(0.1);  // of 5: none
  absl::StatusOr<Examples> validation = DataSource(config).LoadValidation();
  EXPECT_THAT(validation.status().message(),
              HasSubstr("data.validation_fraction"));
}

TEST(DataSource, CsvDefaultTestEveryIsFive) {
  const DataSource source(CsvJob(WriteTempFile("a.csv", NumberedCsv(11))));
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(FirstColumn(test->dense()), ElementsAre(4.f, 9.f));
}

TEST(DataSource, CsvWithTestFileUsesBothFilesWhole) {
  const DataSource source(
      CsvJob(WriteTempFile("train.csv", "a,b,y\n1,2,0\n3,4,1\n5,6,1\n"),
             WriteTempFile("test.csv", "a,b,y\n7,8,1\n")));
  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_THAT(train->dense().features,
              ElementsAre(1.f, 2.f, 3.f, 4.f, 5.f, 6.f));
  EXPECT_THAT(train->dense().labels, ElementsAre(0, 1, 1));
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(test->dense().features, ElementsAre(7.f, 8.f));
  EXPECT_THAT(test->dense().labels, ElementsAre(1));
  EXPECT_EQ(test->num_classes(), 2);
}

TEST(DataSource, CsvTestFileWithFewerClassesTakesTrainingEncoding) {
  // Labels 0, 1, 3 are not 0..K-1: three classes, 3 being class 2.
  const DataSource source(
      CsvJob(WriteTempFile("train.csv", "a,y\n1,0\n2,3\n3,1\n"),
             WriteTempFile("test.csv", "a,y\n4,0\n5,1\n")));
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->num_classes(), 3);
  EXPECT_THAT(test->dense().labels, ElementsAre(0, 1));
  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->num_classes(), 3);
  EXPECT_THAT(train->dense().labels, ElementsAre(0, 2, 1));
  EXPECT_THAT(train->dense().class_names, ElementsAre("0", "1", "3"));
}

TEST(DataSource, CsvInfersClassesAcrossBothSplits) {
  // The largest label is in the test file only.
  const DataSource source(
      CsvJob(WriteTempFile("train.csv", "a,y\n1,0\n2,1\n3,1\n"),
             WriteTempFile("test.csv", "a,y\n4,2\n5,0\n")));
  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->num_classes, 3);
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->num_classes(), 3);
  EXPECT_THAT(test->dense().labels, ElementsAre(2, 0));
  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->num_classes(), 3);
}

TEST(DataSource, LibsvmInfersClassesAcrossBothSplits) {
  // Read dense and sparse; DataSource leaves label checks to the model.
  for (bool sparse : {false, true}) {
    SCOPED_TRACE(sparse ? "sparse" : "dense");
    v1::JobConfig config;
    if (sparse) {
      config.mutable_model()->mutable_factorization_machine();
    } else {
      config.mutable_model()->mutable_softmax_regression();
    }
    v1::LibsvmDataConfig* libsvm = config.mutable_data()->mutable_libsvm();
    libsvm->set_train(WriteTempFile("train.svm", "0 1:1\n1 2:1\n"));
    libsvm->set_test(WriteTempFile("test.svm", "2 1:1\n0 2:1\n"));
    const DataSource source(WithDefaults(config));
    absl::StatusOr<Examples> test = source.LoadTest();
    ASSERT_TRUE(test.ok()) << test.status();
    EXPECT_EQ(test->num_classes(), 3);
    absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
    ASSERT_TRUE(train.ok()) << train.status();
    EXPECT_EQ(train->num_classes(), 3);
  }
}

// Workers and the coordinator each read both files; the encoding of string
// labels comes from the labels of both, so every process agrees.
TEST(DataSource, CsvStringLabelsGetOneEncodingAcrossFiles) {
  const DataSource source(
      CsvJob(WriteTempFile("train.csv",
                           "a,species\n1,versicolor\n2,setosa\n3,versicolor\n"),
             WriteTempFile("test.csv", "a,species\n4,virginica\n5,setosa\n")));
  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->num_classes, 3);
  EXPECT_THAT(description->class_names,
              ElementsAre("setosa", "versicolor", "virginica"));
  EXPECT_FALSE(description->label_min.has_value());
  // virginica never occurs in training.
  EXPECT_THAT(description->warnings,
              ElementsAre(HasSubstr("class 2 (label \"virginica\")")));
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(test->dense().labels, ElementsAre(2, 0));
  const Examples train = ConcatenatedShards(source, 3, 2);
  EXPECT_THAT(train.dense().labels, ElementsAre(1, 0, 1));
}

// LIBSVM labels 1..K across a training and a test file make K classes.
TEST(DataSource, LibsvmOneToKLabelsMakeKClasses) {
  const DataSource source(
      LibsvmJob(WriteTempFile("train.svm", "1 1:1\n2 2:1\n1 3:1\n"),
                WriteTempFile("test.svm", "3 1:1\n"), /*sparse=*/false));
  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->num_classes, 3);
  EXPECT_THAT(description->class_names, ElementsAre("1", "2", "3"));
  EXPECT_EQ(description->label_min, 1);
  EXPECT_EQ(description->label_max, 2);
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(test->dense().labels, ElementsAre(2));
}

// Unset zero_based: index 0 in either file makes both 0-based.
TEST(DataSource, LibsvmIndexBaseIsDetectedAcrossFiles) {
  struct Case {
    const char* name;
    std::string test;
    std::vector<int64_t> train_indices;
    int64_t num_features;
  };
  const std::vector<Case> cases = {
      {"zero_in_test", "0 0:1\n", {1, 2}, 3},
      {"no_zero", "0 1:1\n", {0, 1}, 2},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const DataSource source(
        LibsvmJob(WriteTempFile("train.svm", "1 1:1 2:1\n"),
                  WriteTempFile(std::string(c.name) + ".svm", c.test),
                  /*sparse=*/true));
    absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
    ASSERT_TRUE(train.ok()) << train.status();
    EXPECT_THAT(train->sparse().indices, ElementsAreArray(c.train_indices));
    EXPECT_EQ(train->num_features(), c.num_features);
  }
}

// A validation file takes part in both decisions: its index 0 makes every
// file 0-based, and its labels share the one encoding.
TEST(DataSource, LibsvmValidationFileJoinsTheIndexBaseAndTheLabels) {
  v1::JobConfig config =
      LibsvmJob(WriteTempFile("train_b.svm", "1 1:1 2:1\n2 1:1\n"),
                WriteTempFile("test_b.svm", "2 2:1\n"), /*sparse=*/true);
  config.mutable_data()->mutable_libsvm()->set_validation(
      WriteTempFile("validation_b.svm", "3 0:1\n"));
  const DataSource source(config);
  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_THAT(train->sparse().indices, ElementsAre(1, 2, 1));
  absl::StatusOr<Examples> validation = source.LoadValidation();
  ASSERT_TRUE(validation.ok()) << validation.status();
  EXPECT_THAT(validation->sparse().indices, ElementsAre(0));
  // Labels 1, 2, 3 over the three files: classes 0, 1, 2.
  EXPECT_THAT(train->sparse().labels, ElementsAre(0, 1));
  EXPECT_THAT(validation->sparse().labels, ElementsAre(2));
  EXPECT_EQ(source.LoadTest()->num_classes(), 3);
}

// Diabetes' mistake: integer targets read as classes. Many classes for few
// examples each is flagged as a likely regression target.
TEST(DataSource, ManyIntegerClassesLookLikeARegressionTarget) {
  std::string text = "a,y\n";
  for (int i = 0; i < 60; ++i) absl::StrAppend(&text, i, ",", 100 + i, "\n");
  const DataSource source(CsvJob(WriteTempFile("a.csv", text)));
  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->num_classes, 60);
  EXPECT_EQ(description->label_min, 100);
  EXPECT_EQ(description->label_max, 158);  // 159 is held out
  EXPECT_THAT(description->warnings,
              Contains(AllOf(HasSubstr("60 classes for 48 training examples"),
                             HasSubstr("regression target"),
                             HasSubstr("data.csv.regression: true"))));
  EXPECT_THAT(DescribeShape(*description),
              HasSubstr("48 training and 12 test examples, 1 features, 60 "
                        "classes"));
}

TEST(DataSource, UnscaledFeatureRangesFarApartAreFlagged) {
  std::string text = "small,large,y\n";
  for (int i = 0; i < 10; ++i) {
    absl::StrAppend(&text, 0.001 * i, ",", 1000 * i, ",", i % 2, "\n");
  }
  v1::JobConfig config = CsvJob(WriteTempFile("a.csv", text));
  absl::StatusOr<DataDescription> plain = DataSource(config).Describe();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_THAT(plain->warnings,
              ElementsAre(AllOf(HasSubstr("orders of magnitude"),
                                HasSubstr("data.scaling: STANDARDIZE"))));
  EXPECT_THAT(plain->divergence_hint, HasSubstr("data.scaling: STANDARDIZE"));
  config.mutable_data()->set_scaling(v1::STANDARDIZE);
  absl::StatusOr<DataDescription> scaled = DataSource(config).Describe();
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_THAT(scaled->warnings, IsEmpty());
  EXPECT_EQ(scaled->divergence_hint, "");
}

TEST(DataSource, RegressionShapeGivesTheTargetRange) {
  v1::JobConfig config =
      CsvJob(WriteTempFile("a.csv", "a,t\n1,2.5\n2,-1\n3,7\n4,0\n5,9\n"));
  config.mutable_data()->mutable_csv()->set_regression(true);
  absl::StatusOr<DataDescription> description = DataSource(config).Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->num_classes, 0);
  EXPECT_EQ(description->label_min, -1);
  EXPECT_EQ(description->label_max, 7);
  EXPECT_THAT(DescribeShape(*description),
              HasSubstr("1 features, regression (targets -1 to 7)"));
}

TEST(DataSource, StandardizeFitsOnTrainingSplitOnly) {
  // Hold-out with test_every 2: the training rows are (a, b) = (0, 1),
  // (2, 1), (4, 1), (6, 3); the test rows (10, 5), (20, 7), (30, 2), (40, 0).
  v1::JobConfig config = CsvJob(
      WriteTempFile("a.csv",
                    "a,b,y\n0,1,0\n10,5,1\n2,1,0\n20,7,1\n4,1,0\n30,2,1\n"
                    "6,3,1\n40,0,0\n"));
  config.mutable_data()->mutable_csv()->set_test_every(2);
  config.mutable_data()->set_scaling(v1::STANDARDIZE);
  const DataSource source(config);

  // Training statistics (population stddev): a mean 3, var 5; b mean 1.5,
  // var 0.75.
  const float a_std = std::sqrt(5.0f);
  const float b_std = std::sqrt(0.75f);
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(
      test->dense().features,
      Pointwise(FloatNear(1e-5f),
                {(10 - 3) / a_std, (5 - 1.5f) / b_std, (20 - 3) / a_std,
                 (7 - 1.5f) / b_std, (30 - 3) / a_std, (2 - 1.5f) / b_std,
                 (40 - 3) / a_std, (0 - 1.5f) / b_std}));

  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_EQ(train->size(), 4);
  for (int f = 0; f < 2; ++f) {
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < 4; ++i) {
      const double x = train->dense().example(i)[f];
      sum += x;
      squares += x * x;
    }
    EXPECT_NEAR(sum / 4, 0, 1e-6) << "feature " << f;
    EXPECT_NEAR(squares / 4, 1, 1e-5) << "feature " << f;
  }
  EXPECT_NEAR(train->dense().example(0)[0], -3 / a_std, 1e-5);
}

TEST(DataSource, DenseTrainShardsAreContiguousAndCoverTheSplit) {
  v1::JobConfig config = CsvJob(WriteTempFile("a.csv", NumberedCsv(23)));
  const DataSource source(config);
  absl::StatusOr<Examples> whole = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->size(), 19);  // 23 lines, 4 held out
  for (int num_shards : {1, 2, 3, 4, 7}) {
    SCOPED_TRACE(testing::Message() << "shards " << num_shards);
    const Examples all = ConcatenatedShards(source, whole->size(), num_shards);
    EXPECT_EQ(all.dense().num_examples, whole->size());
    EXPECT_EQ(all.dense().features, whole->dense().features);
    EXPECT_EQ(all.dense().labels, whole->dense().labels);
  }
  // Shard 1 of 3 (7 + 6 + 6 rows) starts at training row 7, line 8.
  absl::StatusOr<Examples> shard = source.LoadTrainShard(1, 3);
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ(shard->dense().example(0)[0], 8.f);
}

TEST(DataSource, SparseTrainShardsAreContiguousAndCoverTheSplit) {
  // Sparse logistic regression on a LIBSVM file with rows of varied length.
  std::string text;
  for (int i = 0; i < 17; ++i) {
    absl::StrAppend(&text, i % 2, " ", i + 1, ":", i + 1);
    if (i % 3 == 0) absl::StrAppend(&text, " ", i + 30, ":0.5");
    absl::StrAppend(&text, "\n");
  }
  v1::JobConfig config;
  config.mutable_model()->mutable_sparse_logistic_regression();
  config.mutable_data()->mutable_libsvm()->set_train(
      WriteTempFile("a.svm", text));
  const DataSource source(WithDefaults(config));
  absl::StatusOr<Examples> whole = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_TRUE(whole->is_sparse());
  ASSERT_EQ(whole->size(), 14);  // 17 lines, 3 held out
  for (int num_shards : {1, 2, 3, 5}) {
    SCOPED_TRACE(testing::Message() << "shards " << num_shards);
    const Examples all = ConcatenatedShards(source, whole->size(), num_shards);
    EXPECT_TRUE(all.is_sparse());
    EXPECT_EQ(all.sparse().num_examples, whole->size());
    EXPECT_EQ(all.sparse().row_offsets, whole->sparse().row_offsets);
    EXPECT_EQ(all.sparse().indices, whole->sparse().indices);
    EXPECT_EQ(all.sparse().values, whole->sparse().values);
    EXPECT_EQ(all.sparse().labels, whole->sparse().labels);
  }
}

TEST(DataSource, SparseModelOnDenseCsvGetsRowsWithoutZeros) {
  v1::JobConfig config;
  config.mutable_model()->mutable_factorization_machine();
  v1::CsvDataConfig* csv = config.mutable_data()->mutable_csv();
  csv->set_train(WriteTempFile("train.csv", "a,b,c,y\n0,2,0,1\n3,0,4,0\n"));
  csv->set_test(WriteTempFile("test.csv", "a,b,c,y\n0,0,0,1\n5,6,7,0\n"));
  const DataSource source(WithDefaults(config));

  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_TRUE(train->is_sparse());
  EXPECT_EQ(train->sparse().num_features, 3);
  EXPECT_EQ(train->sparse().num_classes, 2);
  EXPECT_THAT(train->sparse().row_offsets, ElementsAre(0, 1, 3));
  EXPECT_THAT(train->sparse().indices, ElementsAre(1, 0, 2));
  EXPECT_THAT(train->sparse().values, ElementsAre(2.f, 3.f, 4.f));
  EXPECT_THAT(train->sparse().labels, ElementsAre(1, 0));

  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  ASSERT_TRUE(test->is_sparse());
  EXPECT_THAT(test->sparse().row_offsets, ElementsAre(0, 0, 3));
  EXPECT_THAT(test->sparse().indices, ElementsAre(0, 1, 2));
}

TEST(DataSource, LibsvmForDenseModelGivesDenseRows) {
  v1::JobConfig config;
  config.mutable_model()->mutable_logistic_regression();
  v1::LibsvmDataConfig* libsvm = config.mutable_data()->mutable_libsvm();
  libsvm->set_train(WriteTempFile("train.svm", "1 1:0.5 3:2\n0 2:1\n"));
  libsvm->set_test(WriteTempFile("test.svm", "0 3:7\n"));
  const DataSource source(WithDefaults(config));

  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_FALSE(train->is_sparse());
  EXPECT_EQ(train->dense().num_features, 3);
  EXPECT_THAT(train->dense().features,
              ElementsAre(0.5f, 0.f, 2.f, 0.f, 1.f, 0.f));
  EXPECT_THAT(train->dense().labels, ElementsAre(1, 0));
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_FALSE(test->is_sparse());
  EXPECT_THAT(test->dense().features, ElementsAre(0.f, 0.f, 7.f));
}

TEST(DataSource, LibsvmForSparseModelGivesSparseRows) {
  v1::JobConfig config;
  config.mutable_model()->mutable_sparse_logistic_regression();
  v1::LibsvmDataConfig* libsvm = config.mutable_data()->mutable_libsvm();
  libsvm->set_train(WriteTempFile("train.svm", "1 1:0.5 3:2\n0 2:1\n"));
  // The test file reaches a wider key than the training file.
  libsvm->set_test(WriteTempFile("test.svm", "0 9:7\n"));
  const DataSource source(WithDefaults(config));

  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_TRUE(train->is_sparse());
  EXPECT_THAT(train->sparse().row_offsets, ElementsAre(0, 2, 3));
  EXPECT_THAT(train->sparse().indices, ElementsAre(0, 2, 1));
  EXPECT_THAT(train->sparse().values, ElementsAre(0.5f, 2.f, 1.f));
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  ASSERT_TRUE(test->is_sparse());
  EXPECT_THAT(test->sparse().indices, ElementsAre(8));
  // One key space for both splits.
  EXPECT_EQ(test->num_features(), 9);
  EXPECT_EQ(train->num_features(), 9);
}

TEST(DataSource, RatingsBecomeUserAndItemKeyedRows) {
  v1::JobConfig config;
  config.mutable_model()->mutable_matrix_factorization();
  v1::RatingsDataConfig* ratings = config.mutable_data()->mutable_ratings();
  ratings->set_train(
      WriteTempFile("train.tsv", "3 7 4.5\n0 1 1\n10 2 2.5 881250949\n"));
  ratings->set_test(WriteTempFile("test.tsv", "2 12 3\n"));
  const DataSource source(WithDefaults(config));

  absl::StatusOr<Examples> train = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_TRUE(train->is_sparse());
  const SparseDataset& rows = train->sparse();
  EXPECT_THAT(rows.row_offsets, ElementsAre(0, 2, 4, 6));
  EXPECT_THAT(rows.indices, ElementsAre(6, 15, 0, 3, 20, 5));
  EXPECT_THAT(rows.values, ElementsAre(1.f, 1.f, 1.f, 1.f, 1.f, 1.f));
  EXPECT_THAT(rows.targets, ElementsAre(4.5f, 1.f, 2.5f));
  EXPECT_TRUE(rows.labels.empty());
  EXPECT_EQ(rows.num_classes, 0);

  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(test->sparse().indices, ElementsAre(4, 25));
  EXPECT_THAT(test->sparse().targets, ElementsAre(3.f));

  // Keys reach 2 * 12 + 1 = 25 (test item 12), so the width is 26.
  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->num_features, 26);
  EXPECT_EQ(description->num_classes, 0);
  EXPECT_EQ(description->train_examples, 3);
}

TEST(DataSource, RatingsHoldOutAndUserKeyWidth) {
  // The widest key is user 20's, 40: the width is 41.
  v1::JobConfig config;
  config.mutable_model()->mutable_matrix_factorization();
  std::string text;
  for (int i = 0; i < 10; ++i) absl::StrAppend(&text, i, " 1 ", i, "\n");
  absl::StrAppend(&text, "20 0 5\n");
  config.mutable_data()->mutable_ratings()->set_train(
      WriteTempFile("r.tsv", text));
  const DataSource source(WithDefaults(config));
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(test->sparse().targets, ElementsAre(4.f, 9.f));
  EXPECT_EQ(test->num_features(), 41);
}

v1::JobConfig SyntheticJob(v1::SyntheticDataConfig::Kind kind) {
  v1::JobConfig config;
  switch (kind) {
    case v1::SyntheticDataConfig::LINEAR_REGRESSION:
      config.mutable_model()->mutable_linear_regression();
      break;
    case v1::SyntheticDataConfig::CTR:
      config.mutable_model()->mutable_factorization_machine();
      break;
    case v1::SyntheticDataConfig::RATINGS:
      config.mutable_model()->mutable_matrix_factorization();
      break;
    default:
      config.mutable_model()->mutable_logistic_regression();
      break;
  }
  config.mutable_data()->mutable_synthetic()->set_kind(kind);
  return config;
}

TEST(DataSource, SyntheticLinearRegressionSplitsAndPlantedModel) {
  v1::JobConfig config =
      SyntheticJob(v1::SyntheticDataConfig::LINEAR_REGRESSION);
  v1::SyntheticDataConfig* s = config.mutable_data()->mutable_synthetic();
  s->set_train_examples(50);
  s->set_test_examples(20);
  s->set_features(7);
  const DataSource source(WithDefaults(config));

  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->train_examples, 50);
  EXPECT_EQ(description->num_features, 7);
  EXPECT_EQ(description->num_classes, 0);
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_FALSE(test->is_sparse());
  EXPECT_EQ(test->size(), 20);
  EXPECT_EQ(test->dense().targets.size(), 20u);
  absl::StatusOr<Examples> shard = source.LoadTrainShard(1, 2);
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ(shard->size(), 25);

  const PlantedModel planted = source.Planted();
  ASSERT_EQ(planted.weights.size(), 7u);
  // The targets follow the planted model up to noise (stddev 0.1).
  for (int64_t i = 0; i < test->size(); ++i) {
    double y = planted.bias;
    for (int f = 0; f < 7; ++f) {
      y += planted.weights[f] * test->dense().example(i)[f];
    }
    EXPECT_NEAR(test->dense().targets[i], y, 0.6) << "test example " << i;
  }
}

TEST(DataSource, SyntheticCtrPlantedAucIsInformative) {
  v1::JobConfig config = SyntheticJob(v1::SyntheticDataConfig::CTR);
  v1::SyntheticDataConfig* s = config.mutable_data()->mutable_synthetic();
  s->set_train_examples(500);
  s->set_test_examples(3000);
  s->set_features(200);
  s->set_nnz_per_row(5);
  const DataSource source(WithDefaults(config));
  const PlantedModel planted = source.Planted();
  EXPECT_GT(planted.test_auc, 0.5);
  EXPECT_LT(planted.test_auc, 1.0);
  EXPECT_TRUE(planted.weights.empty());

  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  ASSERT_TRUE(test->is_sparse());
  EXPECT_EQ(test->size(), 3000);
  EXPECT_EQ(test->num_features(), 200);
  EXPECT_EQ(test->num_classes(), 2);
  EXPECT_EQ(test->sparse().indices.size(), 3000u * 5);
}

TEST(DataSource, SyntheticRatingsPlantedRmseIsTheNoise) {
  v1::JobConfig config = SyntheticJob(v1::SyntheticDataConfig::RATINGS);
  v1::SyntheticDataConfig* s = config.mutable_data()->mutable_synthetic();
  s->set_users(200);
  s->set_items(150);
  s->set_rank(3);
  s->set_train_examples(1000);
  s->set_test_examples(4000);
  s->set_noise_stddev(0.5);
  const DataSource source(WithDefaults(config));
  const PlantedModel planted = source.Planted();
  EXPECT_NEAR(planted.test_rmse, 0.5, 0.1);

  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  ASSERT_TRUE(test->is_sparse());
  EXPECT_EQ(test->size(), 4000);
  for (int64_t i = 0; i < test->size(); ++i) {
    ASSERT_EQ(test->sparse().row_size(i), 2);
    const int64_t user_key = test->sparse().indices[2 * i];
    const int64_t item_key = test->sparse().indices[2 * i + 1];
    ASSERT_EQ(user_key % 2, 0);
    ASSERT_LT(user_key / 2, 200);
    ASSERT_EQ(item_key % 2, 1);
    ASSERT_LT(item_key / 2, 150);
  }
}

TEST(DataSource, PlantedIsEmptyForFiles) {
  const DataSource source(CsvJob(WriteTempFile("a.csv", NumberedCsv(10))));
  const PlantedModel planted = source.Planted();
  EXPECT_TRUE(planted.weights.empty());
  EXPECT_EQ(planted.test_auc, 0);
  EXPECT_EQ(planted.test_rmse, 0);
}

// Fashion-MNIST's directory, or empty if the files are not there.
std::string FashionMnistDir() {
  const char* env = std::getenv("DESCENT_TEST_DATA");
  const std::string dir = env != nullptr && *env != '\0'
                              ? env
                              : "/usr/share/datasets/fashion-mnist";
  return std::ifstream(dir + "/t10k-labels-idx1-ubyte.gz").good() ? dir : "";
}

TEST(DataSource, IdxHonoursMaxExamples) {
  const std::string dir = FashionMnistDir();
  if (dir.empty()) GTEST_SKIP() << "Fashion-MNIST not found";
  v1::JobConfig config;
  config.mutable_model()->mutable_softmax_regression();
  v1::IdxDataConfig* idx = config.mutable_data()->mutable_idx();
  idx->set_train_images(dir + "/train-images-idx3-ubyte.gz");
  idx->set_train_labels(dir + "/train-labels-idx1-ubyte.gz");
  idx->set_test_images(dir + "/t10k-images-idx3-ubyte.gz");
  idx->set_test_labels(dir + "/t10k-labels-idx1-ubyte.gz");
  idx->set_max_train_examples(100);
  idx->set_max_test_examples(40);
  const DataSource source(WithDefaults(config));

  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_EQ(description->train_examples, 100);
  EXPECT_EQ(description->test_examples, 40);
  EXPECT_EQ(description->num_features, 784);
  EXPECT_EQ(description->num_classes, 10);
  absl::StatusOr<Examples> test = source.LoadTest();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->size(), 40);
  absl::StatusOr<Examples> shard = source.LoadTrainShard(3, 4);
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ(shard->size(), 25);
  absl::StatusOr<Examples> whole = source.LoadTrainShard(0, 1);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->size(), 100);
  EXPECT_EQ(SliceRows(whole->dense(), {75, 100}).features,
            shard->dense().features);
}

TEST(DataSourceErrors, MissingFileIsNamed) {
  const std::string path = ::testing::TempDir() + "/no_such_dir/train.csv";
  const DataSource source(CsvJob(path));
  absl::StatusOr<DataDescription> description = source.Describe();
  ASSERT_FALSE(description.ok());
  EXPECT_THAT(description.status().message(), HasSubstr(path));
  absl::StatusOr<Examples> shard = source.LoadTrainShard(0, 1);
  ASSERT_FALSE(shard.ok());
  EXPECT_THAT(shard.status().message(), HasSubstr(path));
}

TEST(DataSourceErrors, EmptyTestSplitIsInvalid) {
  const DataSource source(CsvJob(WriteTempFile("a.csv", NumberedCsv(3))));
  for (const absl::Status& status :
       {source.Describe().status(), source.LoadTest().status(),
        source.LoadTrainShard(0, 1).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("test split"));
  }
}

TEST(DataSourceErrors, FeatureCountMismatchNamesBothCounts) {
  const DataSource source(
      CsvJob(WriteTempFile("train.csv", "a,b,y\n1,2,0\n3,4,1\n"),
             WriteTempFile("test.csv", "a,b,c,y\n1,2,3,0\n")));
  const absl::Status status = source.Describe().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("2 features"));
  EXPECT_THAT(status.message(), HasSubstr("have 3"));
}

Dataset SmallDense() {
  Dataset dense;
  dense.num_examples = 3;
  dense.num_features = 3;
  dense.num_classes = 4;
  dense.features = {0, 1.5f, 0, 0, 0, 0, -2, 0, 3};
  dense.labels = {3, 0, 1};
  return dense;
}

TEST(ToSparse, KeepsNonZerosInOrderAndCopiesLabels) {
  const SparseDataset sparse = ToSparse(SmallDense());
  EXPECT_EQ(sparse.num_examples, 3);
  EXPECT_EQ(sparse.num_features, 3);
  EXPECT_EQ(sparse.num_classes, 4);
  EXPECT_THAT(sparse.row_offsets, ElementsAre(0, 1, 1, 3));
  EXPECT_THAT(sparse.indices, ElementsAre(1, 0, 2));
  EXPECT_THAT(sparse.values, ElementsAre(1.5f, -2.f, 3.f));
  EXPECT_THAT(sparse.labels, ElementsAre(3, 0, 1));
  EXPECT_TRUE(sparse.targets.empty());
  // And back again.
  EXPECT_EQ(ToDense(sparse).features, SmallDense().features);
}

TEST(ToSparse, CopiesTargets) {
  Dataset dense;
  dense.num_examples = 2;
  dense.num_features = 1;
  dense.features = {0, 4};
  dense.targets = {0.25f, -1};
  const SparseDataset sparse = ToSparse(dense);
  EXPECT_THAT(sparse.row_offsets, ElementsAre(0, 0, 1));
  EXPECT_THAT(sparse.targets, ElementsAre(0.25f, -1.f));
  EXPECT_TRUE(sparse.labels.empty());
}

TEST(SliceRows, DenseTakesTheRange) {
  const Dataset slice = SliceRows(SmallDense(), {1, 3});
  EXPECT_EQ(slice.num_examples, 2);
  EXPECT_EQ(slice.num_features, 3);
  EXPECT_EQ(slice.num_classes, 4);
  EXPECT_THAT(slice.features, ElementsAre(0.f, 0.f, 0.f, -2.f, 0.f, 3.f));
  EXPECT_THAT(slice.labels, ElementsAre(0, 1));
  EXPECT_EQ(SliceRows(SmallDense(), {2, 2}).num_examples, 0);
  EXPECT_TRUE(SliceRows(SmallDense(), {2, 2}).features.empty());
}

TEST(SliceRows, SparseTakesTheRangeAndRebasesOffsets) {
  const SparseDataset sparse = ToSparse(SmallDense());
  const SparseDataset slice = SliceRows(sparse, {1, 3});
  EXPECT_EQ(slice.num_examples, 2);
  EXPECT_EQ(slice.num_features, 3);
  EXPECT_EQ(slice.num_classes, 4);
  EXPECT_THAT(slice.row_offsets, ElementsAre(0, 0, 2));
  EXPECT_THAT(slice.indices, ElementsAre(0, 2));
  EXPECT_THAT(slice.values, Pointwise(FloatEq(), {-2.f, 3.f}));
  EXPECT_THAT(slice.labels, ElementsAre(0, 1));
  const SparseDataset first = SliceRows(sparse, {0, 1});
  EXPECT_THAT(first.row_offsets, ElementsAre(0, 1));
  EXPECT_THAT(first.indices, ElementsAreArray({1}));
}

TEST(IsSparseModel, TellsSparseModelsApart) {
  v1::ModelConfig model;
  model.mutable_factorization_machine();
  EXPECT_TRUE(IsSparseModel(model));
  model.mutable_matrix_factorization();
  EXPECT_TRUE(IsSparseModel(model));
  model.mutable_sparse_logistic_regression();
  EXPECT_TRUE(IsSparseModel(model));
  model.mutable_mlp();
  EXPECT_FALSE(IsSparseModel(model));
  model.mutable_logistic_regression();
  EXPECT_FALSE(IsSparseModel(model));
}

TEST(Examples, HoldsExactlyOneKind) {
  Dataset dense;
  dense.num_examples = 3;
  dense.num_features = 2;
  const Examples d(dense);
  EXPECT_FALSE(d.is_sparse());
  EXPECT_EQ(d.size(), 3);
  EXPECT_EQ(d.num_features(), 2);
  SparseDataset sparse;
  sparse.num_examples = 4;
  sparse.num_classes = 2;
  const Examples s(sparse);
  EXPECT_TRUE(s.is_sparse());
  EXPECT_EQ(s.size(), 4);
  EXPECT_EQ(s.num_classes(), 2);
  EXPECT_DEATH(d.sparse(), "sparse examples asked of dense ones");
  EXPECT_DEATH(s.dense(), "dense examples asked of sparse ones");
}

}  // namespace
}  // namespace descent
