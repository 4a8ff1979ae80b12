#include "common/model/model_factory.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// The model `text` (a text-format ModelConfig) describes, defaults applied.
v1::ModelConfig ModelOf(const std::string& text) {
  v1::JobConfig job;
  EXPECT_TRUE(
      google::protobuf::TextFormat::ParseFromString(text, job.mutable_model()))
      << text;
  ApplyDefaults(&job);
  return job.model();
}

struct LayoutCase {
  std::string model;
  DataShape shape;
  int64_t dense_size;
  int row_width;  // 0: a dense model
  bool classifier;
};

// Layer math (weights + biases):
//  MLP 784-256-128-10: 200960 + 32896 + 1290.
//  McMahan CNN: conv 5x5x32 (832) -> pool 14x14 -> conv 5x5x32x64 (51264)
//    -> pool 7x7x64 = 3136 -> 512 (1606144) -> 10 (5130).
//  LeNet-5: conv 5x5x6 pad 2 (156) -> pool 14x14x6 -> conv 5x5x6x16 (2416)
//    -> 10x10 -> pool 5x5x16 = 400 -> 120 (48120) -> 84 (10164) -> 10 (850).
//  Custom: conv 3x3x4 (40) -> 26x26 -> pool 13x13x4 = 676 -> 10 (6770)
//    -> 10 (110).
const LayoutCase kLayoutCases[] = {
    {"softmax_regression {}", {784, 10}, 7850, 0, true},
    {"linear_regression {}", {784, 0}, 785, 0, false},
    {"logistic_regression {}", {784, 2}, 785, 0, true},
    {"linear_svm {}", {784, 10}, 7850, 0, true},
    {"mlp { hidden: [256, 128] }", {784, 10}, 235146, 0, true},
    {"mlp {}", {784, 10}, 7850, 0, true},
    {"cnn { preset: MCMAHAN_CNN }", {784, 10}, 1663370, 0, true},
    {"cnn { preset: LENET5 }", {784, 10}, 61706, 0, true},
    {"cnn { layers { conv { out_channels: 4 kernel: 3 } } "
     "layers { max_pool { size: 2 } } layers { dense { units: 10 } } }",
     {784, 10},
     6920,
     0,
     true},
    {"sparse_logistic_regression {}", {1000, 2}, 1, 1, true},
    {"factorization_machine {}", {1000, 2}, 1, 9, true},
    {"factorization_machine { factor_dim: 5 }", {1000, 2}, 1, 6, true},
    {"matrix_factorization { rank: 4 }", {1000, 0}, 1, 5, false},
    {"matrix_factorization { rank: 4 biases: false }", {1000, 0}, 1, 4, false},
};

TEST(BuildLayout, GivesEveryModelsSizes) {
  for (const LayoutCase& c : kLayoutCases) {
    SCOPED_TRACE(c.model);
    const v1::ModelConfig config = ModelOf(c.model);
    absl::StatusOr<ModelLayout> layout = BuildLayout(config, c.shape);
    ASSERT_TRUE(layout.ok()) << layout.status();
    EXPECT_EQ(layout->dense.size(), c.dense_size);
    EXPECT_EQ(layout->table.row_width, c.row_width);
    EXPECT_EQ(layout->table.column_stddev.size(),
              static_cast<size_t>(c.row_width));
  }
}

TEST(CreateModel, BuildsEachModelOfItsKind) {
  for (const LayoutCase& c : kLayoutCases) {
    SCOPED_TRACE(c.model);
    const v1::ModelConfig config = ModelOf(c.model);
    if (c.row_width == 0) {
      absl::StatusOr<std::unique_ptr<Model>> model =
          CreateModel(config, c.shape, /*max_batch=*/4, /*threads=*/1);
      ASSERT_TRUE(model.ok()) << model.status();
      EXPECT_EQ((*model)->layout().size(), c.dense_size);
      EXPECT_EQ((*model)->is_classifier(), c.classifier);
    } else {
      absl::StatusOr<std::unique_ptr<SparseModel>> model =
          CreateSparseModel(config, c.shape, /*max_batch=*/4);
      ASSERT_TRUE(model.ok()) << model.status();
      EXPECT_EQ((*model)->dense_layout().size(), c.dense_size);
      EXPECT_EQ((*model)->table().row_width, c.row_width);
      EXPECT_EQ((*model)->is_classifier(), c.classifier);
    }
  }
}

TEST(CreateModel, FactorizationMachineKeepsItsInitStddev) {
  absl::StatusOr<std::unique_ptr<SparseModel>> model = CreateSparseModel(
      ModelOf("factorization_machine { factor_dim: 2 init_stddev: 0.5 }"),
      {100, 2}, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT((*model)->table().column_stddev,
              testing::ElementsAre(0.f, 0.5f, 0.5f));
}

struct ErrorCase {
  std::string model;  // empty: no model
  DataShape shape;
  std::string expected;  // in the message
};

const ErrorCase kErrorCases[] = {
    {"", {10, 2}, "none chosen"},
    {"linear_regression {}", {10, 3}, "regression"},
    {"matrix_factorization {}", {10, 5}, "regression"},
    {"logistic_regression {}", {10, 10}, "needs labels 0 and 1"},
    {"factorization_machine {}", {10, 10}, "needs labels 0 and 1"},
    {"sparse_logistic_regression {}", {10, 3}, "needs labels 0 and 1"},
    {"softmax_regression {}", {10, 0}, "needs class labels"},
    {"linear_svm {}", {10, 0}, "needs class labels"},
    {"mlp { hidden: 8 }", {10, 0}, "needs class labels"},
    {"softmax_regression {}", {0, 3}, "no features"},
    {"cnn { preset: LENET5 }", {780, 10}, "square"},
    {"cnn { layers { conv { out_channels: 4 kernel: 30 } } }",
     {784, 10},
     "layer 0 (conv2d): kernel 30 exceeds the padded 28x28 input"},
    {"cnn { layers { conv { out_channels: 4 kernel: 5 } } "
     "layers { max_pool { size: 2 } } "
     "layers { conv { out_channels: 4 kernel: 13 } } }",
     {784, 10},
     "layer 2 (conv2d): kernel 13 exceeds the padded 12x12 input"},
};

// `values` copied to `offset` floats past a 64-byte boundary of a block it
// owns.
struct Shifted {
  Shifted(const std::vector<float>& values, int offset)
      : block(values.size() + 32) {
    const auto base = reinterpret_cast<uintptr_t>(block.data());
    data = reinterpret_cast<float*>((base + 63) / 64 * 64) + offset;
    std::copy(values.begin(), values.end(), data);
  }
  std::vector<float> block;
  float* data;
};

// Every dense model gives the same loss, gradient and SGD step bits wherever
// its buffers and the caller's lie: a job's heap layout varies from run to
// run, and a seeded job must give the same model every run.
TEST(CreateModel, ResultsDoNotDependOnWhereBuffersLie) {
  struct Case {
    std::string model;
    DataShape shape;
  };
  const Case cases[] = {
      {"mlp { hidden: [32] } l2: 0.01", {784, 10}},
      {"cnn { layers { conv { out_channels: 3 kernel: 3 } } "
       "layers { max_pool { size: 2 } } layers { dense { units: 8 } } } "
       "l2: 0.01",
       {64, 3}},
      {"softmax_regression {} l2: 0.01", {784, 10}},
      {"linear_svm {} l2: 0.01 l1: 0.001", {300, 4}},
      {"logistic_regression {} l2: 0.01 l1: 0.001", {300, 2}},
      {"linear_regression {} l2: 0.01 l1: 0.001", {300, 0}},
  };
  for (const Case& c : cases) {
    for (int n : {10, 7, 1}) {
      SCOPED_TRACE(c.model + " batch " + std::to_string(n));
      std::mt19937 rng(3);
      std::uniform_real_distribution<float> uniform(-1, 1);
      std::vector<float> x(n * c.shape.num_features), targets(n);
      for (float& v : x) v = uniform(rng);
      for (float& v : targets) v = uniform(rng);
      std::vector<int32_t> labels(n);
      for (int i = 0; i < n; ++i)
        labels[i] = i % std::max(1, c.shape.num_classes);
      std::vector<std::unique_ptr<Model>> kept;  // so heap layouts differ
      std::vector<std::vector<char>> pads;
      std::vector<float> first_grad, first_step;
      float first_loss = 0;
      for (int offset = 0; offset < 8; ++offset) {
        pads.emplace_back(4 * offset + 4);
        absl::StatusOr<std::unique_ptr<Model>> model = CreateModel(
            ModelOf(c.model), c.shape, /*max_batch=*/10, /*threads=*/1);
        ASSERT_TRUE(model.ok()) << model.status();
        kept.push_back(std::move(*model));
        Model& m = *kept.back();
        // The same parameters every time: the init plus a ramp (biases
        // start at 0), so nothing is zero.
        std::vector<float> init(m.layout().size());
        m.layout().Initialize(9, 0, m.layout().size(), init.data());
        for (size_t i = 0; i < init.size(); ++i) init[i] += 0.001f * (i % 7);
        Shifted features(x, offset), params(init, (offset * 3) % 8),
            grad(std::vector<float>(init.size()), (offset * 5) % 8);
        const Batch batch{features.data, labels.data(), n, targets.data()};
        const float loss = m.LossAndGradient(params.data, batch, grad.data);
        std::vector<float> g(grad.data, grad.data + init.size());
        m.LossAndSgdStep(params.data, batch, 0.1f, grad.data);
        std::vector<float> stepped(params.data, params.data + init.size());
        if (offset == 0) {
          first_loss = loss;
          first_grad = g;
          first_step = stepped;
          continue;
        }
        SCOPED_TRACE(offset);
        EXPECT_EQ(loss, first_loss);
        EXPECT_TRUE(g == first_grad);
        EXPECT_TRUE(stepped == first_step);
      }
    }
  }
}

TEST(BuildLayout, RejectsShapesThatDoNotFit) {
  for (const ErrorCase& c : kErrorCases) {
    SCOPED_TRACE(c.model);
    const absl::Status status = BuildLayout(ModelOf(c.model), c.shape).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr(c.expected));
  }
}

TEST(BuildLayout, NamesTheModelInShapeErrors) {
  const absl::Status status =
      BuildLayout(ModelOf("logistic_regression {}"), {10, 10}).status();
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("logistic_regression"), HasSubstr("10 classes")));
  EXPECT_THAT(BuildLayout(ModelOf("cnn { preset: MCMAHAN_CNN }"), {780, 10})
                  .status()
                  .message(),
              AllOf(HasSubstr("cnn"), HasSubstr("780")));
}

TEST(BuildLayout, LayersTakeTheirOwnInitOrTheNetworks) {
  const DataShape shape{16, 3};
  absl::StatusOr<ModelLayout> mlp = BuildLayout(
      ModelOf("mlp { init: XAVIER_UNIFORM layers { units: 4 init: ZEROS } "
              "layers { units: 5 activation: TANH } }"),
      shape);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  // layer0/weights, layer0/bias, layer1/weights, ...: 16*4+4 + 4*5+5 + 5*3+3.
  ASSERT_EQ(mlp->dense.size(), 68 + 25 + 18);
  EXPECT_EQ(mlp->dense.tensors()[0].init, InitRule::kZeros);
  EXPECT_EQ(mlp->dense.tensors()[2].init, InitRule::kXavierUniform);

  absl::StatusOr<ModelLayout> cnn = BuildLayout(
      ModelOf("cnn { layers { conv { out_channels: 2 kernel: 3 init: ZEROS } "
              "} layers { dense { units: 4 } } }"),
      shape);
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  EXPECT_EQ(cnn->dense.tensors()[0].init, InitRule::kZeros);
  EXPECT_EQ(cnn->dense.tensors()[2].init, InitRule::kHeNormal);
}

// Every tensor of `layout`, biases and the output layer included, lies in
// [-1/sqrt(fan_in), 1/sqrt(fan_in)] for its layer's fan_in, and no tensor is
// all zeros.
void ExpectTorchDefault(const ParamLayout& layout,
                        const std::vector<int64_t>& fan_ins) {
  ASSERT_EQ(layout.tensors().size(), 2 * fan_ins.size());
  std::vector<float> values(layout.size());
  layout.Initialize(5, 0, layout.size(), values.data());
  for (size_t t = 0; t < layout.tensors().size(); ++t) {
    SCOPED_TRACE(layout.tensors()[t].name);
    EXPECT_EQ(layout.tensors()[t].init, InitRule::kTorchDefault);
    const auto bound =
        static_cast<float>(1.0 / std::sqrt(double(fan_ins[t / 2])));
    const int64_t end =
        t + 1 < layout.tensors().size() ? layout.offset(t + 1) : layout.size();
    float largest = 0;
    for (int64_t i = layout.offset(t); i < end; ++i) {
      largest = std::max(largest, std::abs(values[i]));
    }
    EXPECT_LE(largest, bound);
    EXPECT_GT(largest, 0.5f * bound);
  }
}

TEST(BuildLayout, TorchDefaultCoversBiasesAndTheOutputLayer) {
  absl::StatusOr<ModelLayout> mlp =
      BuildLayout(ModelOf("mlp { hidden: [20, 30] init: TORCH_DEFAULT }"),
                  DataShape{16, 3});
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  ExpectTorchDefault(mlp->dense, {16, 20, 30});

  absl::StatusOr<ModelLayout> cnn = BuildLayout(
      ModelOf("cnn { init: TORCH_DEFAULT layers { conv { out_channels: 2 "
              "kernel: 3 } } layers { dense { units: 4 } } }"),
      DataShape{16, 3});
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  // conv 3x3 over 1 channel (fan_in 9) -> 2x2x2 = 8 -> 4 -> 3.
  ExpectTorchDefault(cnn->dense, {9, 8, 4});

  absl::StatusOr<ModelLayout> softmax =
      BuildLayout(ModelOf("softmax_regression { weight_init: TORCH_DEFAULT }"),
                  DataShape{16, 3});
  ASSERT_TRUE(softmax.ok()) << softmax.status();
  ExpectTorchDefault(softmax->dense, {16});
}

TEST(BuildLayout, OtherRulesKeepZeroBiasesAndAXavierOutput) {
  absl::StatusOr<ModelLayout> mlp =
      BuildLayout(ModelOf("mlp { hidden: [20] }"), DataShape{16, 3});
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  ASSERT_EQ(mlp->dense.tensors().size(), 4u);
  EXPECT_EQ(mlp->dense.tensors()[0].init, InitRule::kHeNormal);
  EXPECT_EQ(mlp->dense.tensors()[1].init, InitRule::kZeros);
  EXPECT_EQ(mlp->dense.tensors()[2].init, InitRule::kXavierUniform);
  EXPECT_EQ(mlp->dense.tensors()[3].init, InitRule::kZeros);
}

TEST(CreateModel, RejectsSparseModels) {
  for (const char* text :
       {"sparse_logistic_regression {}", "factorization_machine {}"}) {
    absl::StatusOr<std::unique_ptr<Model>> model =
        CreateModel(ModelOf(text), {10, 2}, 1, 1);
    ASSERT_FALSE(model.ok()) << text;
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(model.status().message(), HasSubstr("is sparse, not dense"));
  }
  absl::StatusOr<std::unique_ptr<Model>> mf =
      CreateModel(ModelOf("matrix_factorization {}"), {10, 0}, 1, 1);
  ASSERT_FALSE(mf.ok());
  EXPECT_THAT(mf.status().message(), HasSubstr("matrix_factorization"));
}

TEST(CreateSparseModel, RejectsDenseModels) {
  for (const char* text :
       {"logistic_regression {}", "softmax_regression {}", "mlp {}"}) {
    absl::StatusOr<std::unique_ptr<SparseModel>> model =
        CreateSparseModel(ModelOf(text), {10, 2}, 1);
    ASSERT_FALSE(model.ok()) << text;
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(model.status().message(), HasSubstr("is dense, not sparse"));
  }
}

// Non-zero parameters, so every penalty is positive.
std::vector<float> SomeParams(int64_t size) {
  std::vector<float> params(size);
  for (int64_t i = 0; i < size; ++i) {
    params[i] = 0.05f * static_cast<float>(i % 7 - 3) + 0.02f;
  }
  return params;
}

// The training loss of `text` with `l2` and `l1` on a fixed batch of two
// examples with 5 features; *grad gets the gradient.
float DenseLoss(const std::string& text, const DataShape& shape, double l2,
                double l1, std::vector<float>* grad) {
  v1::ModelConfig config = ModelOf(text);
  config.set_l2(l2);
  config.set_l1(l1);
  absl::StatusOr<std::unique_ptr<Model>> model =
      CreateModel(config, shape, /*max_batch=*/2, /*threads=*/1);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return 0;
  const std::vector<float> params = SomeParams((*model)->layout().size());
  const std::vector<float> features = {1, -2, 0.5f, 3, 0, -1, 1, 2, -0.5f, 4};
  const std::vector<int32_t> labels = {1, 0};
  const std::vector<float> targets = {0.5f, -1};
  grad->assign(params.size(), 0);
  return (*model)->LossAndGradient(
      params.data(), Batch{features.data(), labels.data(), 2, targets.data()},
      grad->data());
}

TEST(CreateModel, PassesL2ToEveryDenseModel) {
  const LayoutCase cases[] = {
      {"softmax_regression {}", {5, 3}, 0, 0, true},
      {"linear_regression {}", {5, 0}, 0, 0, false},
      {"logistic_regression {}", {5, 2}, 0, 0, true},
      {"linear_svm {}", {5, 3}, 0, 0, true},
      {"mlp { hidden: 4 }", {5, 3}, 0, 0, true},
  };
  for (const LayoutCase& c : cases) {
    SCOPED_TRACE(c.model);
    std::vector<float> grad;
    const float plain = DenseLoss(c.model, c.shape, 0, 0, &grad);
    const float penalized = DenseLoss(c.model, c.shape, 0.5, 0, &grad);
    EXPECT_GT(penalized, plain + 1e-3f);
  }
}

TEST(CreateModel, PassesL1ToLinearModels) {
  struct L1Case {
    std::string model;
    DataShape shape;
    int64_t weights;  // the layout's first tensor; the bias follows
  };
  const L1Case cases[] = {
      {"linear_regression {}", {5, 0}, 5},
      {"logistic_regression {}", {5, 2}, 5},
      {"linear_svm {}", {5, 3}, 15},
  };
  for (const L1Case& c : cases) {
    SCOPED_TRACE(c.model);
    std::vector<float> grad;
    const float plain = DenseLoss(c.model, c.shape, 0, 0, &grad);
    const float penalized = DenseLoss(c.model, c.shape, 0, 0.5, &grad);
    ASSERT_GT(grad.size(), static_cast<size_t>(c.weights));
    const std::vector<float> params = SomeParams(grad.size());
    double l1_norm = 0;
    for (int64_t i = 0; i < c.weights; ++i) l1_norm += std::abs(params[i]);
    EXPECT_NEAR(penalized - plain, 0.5 * l1_norm, 1e-4);
  }
}

TEST(CreateModel, SoftmaxL2AddsHalfSquaredNormOfWeightsOnly) {
  const DataShape shape = {5, 3};
  std::vector<float> plain_grad, grad;
  const float plain =
      DenseLoss("softmax_regression {}", shape, 0, 0, &plain_grad);
  const float penalized =
      DenseLoss("softmax_regression {}", shape, 0.5, 0, &grad);
  const std::vector<float> params = SomeParams(5 * 3 + 3);
  double squares = 0;
  for (int i = 0; i < 15; ++i) squares += params[i] * params[i];
  EXPECT_NEAR(penalized - plain, 0.25 * squares, 1e-5);
  // Layout: weights {5, 3}, then bias {3}.
  ASSERT_EQ(grad.size(), 18u);
  for (int i = 0; i < 15; ++i) {
    EXPECT_NEAR(grad[i] - plain_grad[i], 0.5f * params[i], 1e-6)
        << "weight " << i;
  }
  for (int i = 15; i < 18; ++i) {
    EXPECT_EQ(grad[i], plain_grad[i]) << "bias " << i - 15;
  }
}

TEST(CreateSparseModel, PassesL2) {
  // One example touching two rows of a sparse logistic regression.
  const float rows[] = {0.5f, -1.5f};
  const int64_t offsets[] = {0, 2};
  const int32_t slots[] = {0, 1};
  const float values[] = {1, 2};
  const int32_t labels[] = {1};
  SparseBatch batch;
  batch.size = 1;
  batch.row_offsets = offsets;
  batch.slots = slots;
  batch.values = values;
  batch.labels = labels;
  float losses[2];
  for (int k = 0; k < 2; ++k) {
    v1::ModelConfig config = ModelOf("sparse_logistic_regression {}");
    config.set_l2(k == 0 ? 0 : 0.5);
    absl::StatusOr<std::unique_ptr<SparseModel>> model =
        CreateSparseModel(config, {10, 2}, 1);
    ASSERT_TRUE(model.ok()) << model.status();
    const float bias = 0.25f;
    float dense_grad[1];
    float row_grad[2];
    losses[k] =
        (*model)->LossAndGradient(&bias, rows, 2, batch, dense_grad, row_grad);
  }
  EXPECT_NEAR(losses[1] - losses[0], 0.25 * (0.25 + 2.25), 1e-5);
}

}  // namespace
}  // namespace descent
