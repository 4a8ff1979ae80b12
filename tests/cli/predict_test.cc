// Predictions from a model's own Evaluate (cli/predict.h): probabilities,
// classes and regression values against hand-computed ones, scaling from
// the manifest, and the width check.
#include "cli/predict.h"

#include <cmath>
#include <memory>
#include <vector>

#include "common/model/model_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Model> Softmax(int64_t features, int classes) {
  v1::ModelConfig config;
  config.mutable_softmax_regression();
  auto model = CreateModel(config, {features, classes}, 4, 1);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

TEST(PredictTest, SoftmaxProbabilitiesAndClassesAreTheModels) {
  std::unique_ptr<Model> model = Softmax(2, 3);
  // W is 2 x 3 row-major, then b: logits x W + b.
  const std::vector<float> params = {1, 0, -1, 0, 2, 0, 0.5f, 0, 0};
  Dataset data;
  data.num_examples = 2;
  data.num_features = 2;
  data.features = {1, 0, 0, 1};  // logits {1.5, 0, -1} and {0.5, 2, 0}
  absl::StatusOr<std::vector<Prediction>> got =
      Predict(*model, params, data, 3);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  const double logits[2][3] = {{1.5, 0, -1}, {0.5, 2, 0}};
  for (int i = 0; i < 2; ++i) {
    double sum = 0;
    for (double z : logits[i]) sum += std::exp(z);
    ASSERT_EQ((*got)[i].probabilities.size(), 3u);
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR((*got)[i].probabilities[c], std::exp(logits[i][c]) / sum,
                  1e-6)
          << "example " << i << " class " << c;
    }
  }
  EXPECT_EQ((*got)[0].class_id, 0);
  EXPECT_EQ((*got)[1].class_id, 1);
}

TEST(PredictTest, LogisticRegressionGivesBothClassesProbabilities) {
  v1::ModelConfig config;
  config.mutable_logistic_regression();
  auto model = CreateModel(config, {1, 2}, 4, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<float> params = {2, -1};  // z = 2 x - 1
  Dataset data;
  data.num_examples = 2;
  data.num_features = 1;
  data.features = {0, 1.5f};  // z = -1 and 2
  absl::StatusOr<std::vector<Prediction>> got =
      Predict(**model, params, data, 2);
  ASSERT_TRUE(got.ok()) << got.status();
  const double z[2] = {-1, 2};
  for (int i = 0; i < 2; ++i) {
    const double p1 = 1 / (1 + std::exp(-z[i]));
    ASSERT_EQ((*got)[i].probabilities.size(), 2u);
    EXPECT_NEAR((*got)[i].probabilities[0], 1 - p1, 1e-6);
    EXPECT_NEAR((*got)[i].probabilities[1], p1, 1e-6);
  }
  EXPECT_EQ((*got)[0].class_id, 0);
  EXPECT_EQ((*got)[1].class_id, 1);
}

TEST(PredictTest, SvmGivesTheHighestScoringClassOnly) {
  v1::ModelConfig config;
  config.mutable_linear_svm();
  auto model = CreateModel(config, {2, 3}, 4, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<float> params = {1, 0, -1, 0, 2, 0, 0, 0, 0.5f};
  Dataset data;
  data.num_examples = 2;
  data.num_features = 2;
  data.features = {1, 0, -1, 0};  // scores {1, 0, -0.5} and {-1, 0, 1.5}
  absl::StatusOr<std::vector<Prediction>> got =
      Predict(**model, params, data, 3, /*probabilities=*/false);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].class_id, 0);
  EXPECT_EQ((*got)[1].class_id, 2);
  EXPECT_TRUE((*got)[0].probabilities.empty());
}

TEST(PredictTest, RegressionValuesKeepTheirSign) {
  v1::ModelConfig config;
  config.mutable_linear_regression();
  auto model = CreateModel(config, {2, 0}, 4, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<float> params = {2, -3, 0.25f};  // w, then b
  Dataset data;
  data.num_examples = 3;
  data.num_features = 2;
  data.features = {1, 1, 4, 0, 0, 0};
  absl::StatusOr<std::vector<Prediction>> got =
      Predict(**model, params, data, 0, false);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_FLOAT_EQ((*got)[0].value, -0.75f);
  EXPECT_FLOAT_EQ((*got)[1].value, 8.25f);
  EXPECT_FLOAT_EQ((*got)[2].value, 0.25f);
}

TEST(PredictTest, ScalingAndWidthFollowTheManifest) {
  v1::ModelManifest manifest;
  manifest.set_num_features(2);
  manifest.mutable_scaling()->set_kind(v1::STANDARDIZE);
  manifest.mutable_scaling()->add_offset(10);
  manifest.mutable_scaling()->add_offset(0);
  manifest.mutable_scaling()->add_scale(2);
  manifest.mutable_scaling()->add_scale(4);
  Dataset data;
  data.num_examples = 1;
  data.num_features = 2;
  data.features = {14, -8};
  ASSERT_TRUE(PrepareFeatures(manifest, "x.csv", "csv", &data).ok());
  EXPECT_FLOAT_EQ(data.features[0], 2);
  EXPECT_FLOAT_EQ(data.features[1], -2);

  Dataset wide;
  wide.num_examples = 1;
  wide.num_features = 3;
  wide.features = {1, 2, 3};
  const absl::Status status = PrepareFeatures(manifest, "x.csv", "csv", &wide);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("x.csv"));
  EXPECT_THAT(status.message(), HasSubstr("3 features"));
  EXPECT_THAT(status.message(), HasSubstr("the model takes 2"));
}

TEST(PredictTest, FormatComesFromTheFlagOrTheFileName) {
  EXPECT_EQ(*DataFormat("a/test.csv.gz", ""), "csv");
  EXPECT_EQ(*DataFormat("a/test.tsv", ""), "csv");
  EXPECT_EQ(*DataFormat("a/test.svm", ""), "libsvm");
  EXPECT_EQ(*DataFormat("t10k-images-idx3-ubyte.gz", ""), "idx");
  EXPECT_EQ(*DataFormat("a/data.txt", "libsvm"), "libsvm");
  EXPECT_FALSE(DataFormat("a/data.bin", "").ok());
  EXPECT_FALSE(DataFormat("a/data.csv", "parquet").ok());
}

TEST(ModelDirPullTest, ServesTheDenseParametersAndTheSavedRows) {
  ModelDir dir;
  NamedTensor keys;
  keys.name = "sparse/keys";
  keys.dtype = "U64";
  keys.shape = {2};
  keys.u64 = {2, 5};
  NamedTensor rows;
  rows.name = "sparse/rows";
  rows.dtype = "F32";
  rows.shape = {2, 2};
  rows.f32 = {1, 2, 3, 4};
  dir.tensors = {keys, rows};
  const ModelDirPull pull({7, 8}, dir, "m/model.safetensors");

  std::vector<float> params(2);
  ASSERT_TRUE(pull(params.data(), nullptr).ok());
  EXPECT_EQ(params, std::vector<float>({7, 8}));

  const std::vector<uint64_t> want = {5, 2};
  std::vector<float> pulled(4);
  PsClient::Rows ask;
  ask.width = 2;
  ask.pull_keys = &want;
  ask.pulled = pulled.data();
  ASSERT_TRUE(pull(params.data(), &ask).ok());
  EXPECT_EQ(pulled, std::vector<float>({3, 4, 1, 2}));

  const std::vector<uint64_t> unknown = {3};
  ask.pull_keys = &unknown;
  const absl::Status missing = pull(params.data(), &ask);
  EXPECT_EQ(missing.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(missing.message(), HasSubstr("m/model.safetensors"));
  EXPECT_THAT(missing.message(), HasSubstr("key 3"));
}

}  // namespace
}  // namespace descent
