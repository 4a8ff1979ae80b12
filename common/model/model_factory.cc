#include "common/model/model_factory.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/data/data_source.h"
#include "common/model/linear_regression.h"
#include "common/model/linear_svm.h"
#include "common/model/logistic_regression.h"
#include "common/model/network.h"
#include "common/model/softmax_regression.h"
#include "common/model/sparse_models.h"
#include "common/status_macros.h"

namespace descent {
namespace {

InitRule FromProto(v1::InitRule rule) {
  switch (rule) {
    case v1::ZEROS:
      return InitRule::kZeros;
    case v1::HE_NORMAL:
      return InitRule::kHeNormal;
    case v1::TORCH_DEFAULT:
      return InitRule::kTorchDefault;
    default:
      return InitRule::kXavierUniform;
  }
}

Activation FromProto(v1::Activation activation) {
  switch (activation) {
    case v1::TANH:
      return Activation::kTanh;
    case v1::SIGMOID:
      return Activation::kSigmoid;
    default:
      return Activation::kRelu;
  }
}

// What a model needs of its labels.
enum class Target { kClasses, kBinary, kRegression };

Target TargetOf(const v1::ModelConfig& config) {
  if (config.has_linear_regression() || config.has_matrix_factorization()) {
    return Target::kRegression;
  }
  if (config.has_logistic_regression() ||
      config.has_sparse_logistic_regression() ||
      config.has_factorization_machine()) {
    return Target::kBinary;
  }
  return Target::kClasses;
}

absl::Status CheckShape(const v1::ModelConfig& config, const DataShape& shape) {
  if (config.model_case() == v1::ModelConfig::MODEL_NOT_SET) {
    return absl::InvalidArgumentError("model: none chosen");
  }
  const std::string prefix = absl::StrCat("model ", ModelName(config), ": ");
  if (shape.num_features < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "the data has no features"));
  }
  switch (TargetOf(config)) {
    case Target::kRegression:
      if (shape.num_classes != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            prefix, "needs real-valued targets, but the data has ",
            shape.num_classes, " classes (set regression: true on the data)"));
      }
      break;
    case Target::kBinary:
      if (shape.num_classes != 2) {
        return absl::InvalidArgumentError(
            absl::StrCat(prefix, "needs labels 0 and 1, but the data has ",
                         shape.num_classes, " classes"));
      }
      break;
    case Target::kClasses:
      if (shape.num_classes < 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            prefix, "needs class labels (at least 2 classes), got ",
            shape.num_classes));
      }
      break;
  }
  return absl::OkStatus();
}

// The output layer's init: Xavier, or PyTorch's when the network asks for it.
InitRule OutputInit(v1::InitRule network) {
  return network == v1::TORCH_DEFAULT ? InitRule::kTorchDefault
                                      : InitRule::kXavierUniform;
}

// A layer's own init, or the network's.
InitRule InitOf(v1::InitRule own, v1::InitRule network) {
  return FromProto(own != v1::INIT_RULE_UNSPECIFIED ? own : network);
}

std::vector<LayerSpec> MlpLayers(const v1::MlpConfig& mlp) {
  std::vector<LayerSpec> layers;
  for (const v1::DenseConfig& dense : mlp.layers()) {
    LayerSpec layer;
    layer.kind = LayerSpec::kDense;
    layer.units = dense.units();
    layer.activation = FromProto(dense.activation());
    layer.init = InitOf(dense.init(), mlp.init());
    layers.push_back(layer);
  }
  for (int32_t units : mlp.hidden()) {
    LayerSpec layer;
    layer.kind = LayerSpec::kDense;
    layer.units = units;
    layer.activation = FromProto(mlp.activation());
    layer.init = FromProto(mlp.init());
    layers.push_back(layer);
  }
  return layers;
}

LayerSpec Conv(int out_channels, int kernel, int padding, InitRule init) {
  LayerSpec layer;
  layer.kind = LayerSpec::kConv2D;
  layer.out_channels = out_channels;
  layer.kernel = kernel;
  layer.padding = padding;
  layer.activation = Activation::kRelu;
  layer.init = init;
  return layer;
}

LayerSpec Pool(int size, int stride) {
  LayerSpec layer;
  layer.kind = LayerSpec::kMaxPool2D;
  layer.kernel = size;
  layer.stride = stride;
  return layer;
}

LayerSpec Dense(int units, Activation activation, InitRule init) {
  LayerSpec layer;
  layer.kind = LayerSpec::kDense;
  layer.units = units;
  layer.activation = activation;
  layer.init = init;
  return layer;
}

std::vector<LayerSpec> CnnLayers(const v1::CnnConfig& cnn) {
  const InitRule init = FromProto(cnn.init());
  switch (cnn.preset()) {
    case v1::CnnConfig::MCMAHAN_CNN:
      return {Conv(32, 5, 2, init), Pool(2, 2), Conv(64, 5, 2, init),
              Pool(2, 2), Dense(512, Activation::kRelu, init)};
    case v1::CnnConfig::LENET5:
      return {Conv(6, 5, 2, init),
              Pool(2, 2),
              Conv(16, 5, 0, init),
              Pool(2, 2),
              Dense(120, Activation::kRelu, init),
              Dense(84, Activation::kRelu, init)};
    default:
      break;
  }
  std::vector<LayerSpec> layers;
  for (const v1::LayerConfig& config : cnn.layers()) {
    if (config.has_conv()) {
      LayerSpec layer = Conv(config.conv().out_channels(),
                             config.conv().kernel(), config.conv().padding(),
                             InitOf(config.conv().init(), cnn.init()));
      layer.stride = config.conv().stride();
      layer.activation = FromProto(config.conv().activation());
      layers.push_back(layer);
    } else if (config.has_max_pool()) {
      layers.push_back(
          Pool(config.max_pool().size(), config.max_pool().stride()));
    } else {
      layers.push_back(Dense(config.dense().units(),
                             FromProto(config.dense().activation()),
                             InitOf(config.dense().init(), cnn.init())));
    }
  }
  return layers;
}

// Images are square with one channel (the IDX family).
absl::StatusOr<InputShape> SquareImage(const DataShape& shape) {
  const auto side = static_cast<int>(
      std::lround(std::sqrt(static_cast<double>(shape.num_features))));
  if (static_cast<int64_t>(side) * side != shape.num_features) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model cnn: needs square one-channel images, but examples have ",
        shape.num_features, " features"));
  }
  return InputShape{1, side, side};
}

absl::StatusOr<std::unique_ptr<Model>> CreateNetwork(
    const v1::ModelConfig& config, const DataShape& shape, int max_batch,
    int threads) {
  const auto l2 = static_cast<float>(config.l2());
  absl::StatusOr<std::unique_ptr<Network>> network;
  if (config.has_mlp()) {
    network =
        Network::Create(InputShape{1, 1, static_cast<int>(shape.num_features)},
                        MlpLayers(config.mlp()), shape.num_classes, max_batch,
                        threads, l2, OutputInit(config.mlp().init()));
  } else {
    ASSIGN_OR_RETURN(const InputShape input, SquareImage(shape));
    network = Network::Create(input, CnnLayers(config.cnn()), shape.num_classes,
                              max_batch, threads, l2,
                              OutputInit(config.cnn().init()));
  }
  if (!network.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", ModelName(config), ": ", network.status().message()));
  }
  return std::unique_ptr<Model>(std::move(*network));
}

}  // namespace

std::string ModelName(const v1::ModelConfig& config) {
  const auto* field =
      v1::ModelConfig::descriptor()->FindFieldByNumber(config.model_case());
  return field == nullptr ? "none" : field->name();
}

absl::StatusOr<std::unique_ptr<Model>> CreateModel(
    const v1::ModelConfig& config, const DataShape& shape, int max_batch,
    int threads) {
  RETURN_IF_ERROR(CheckShape(config, shape));
  const auto l2 = static_cast<float>(config.l2());
  const auto l1 = static_cast<float>(config.l1());
  switch (config.model_case()) {
    case v1::ModelConfig::kSoftmaxRegression:
      return std::make_unique<SoftmaxRegression>(
          shape.num_features, shape.num_classes, max_batch, threads,
          FromProto(config.softmax_regression().weight_init()), l2);
    case v1::ModelConfig::kLinearRegression:
      return std::make_unique<LinearRegression>(shape.num_features, max_batch,
                                                threads, l2, l1);
    case v1::ModelConfig::kLogisticRegression:
      return std::make_unique<LogisticRegression>(shape.num_features, max_batch,
                                                  threads, l2, l1);
    case v1::ModelConfig::kLinearSvm:
      return std::make_unique<LinearSvm>(shape.num_features, shape.num_classes,
                                         max_batch, threads, l2, l1);
    case v1::ModelConfig::kMlp:
    case v1::ModelConfig::kCnn:
      return CreateNetwork(config, shape, max_batch, threads);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("model ", ModelName(config), " is sparse, not dense"));
  }
}

absl::StatusOr<std::unique_ptr<SparseModel>> CreateSparseModel(
    const v1::ModelConfig& config, const DataShape& shape, int max_batch) {
  RETURN_IF_ERROR(CheckShape(config, shape));
  const auto l2 = static_cast<float>(config.l2());
  switch (config.model_case()) {
    case v1::ModelConfig::kSparseLogisticRegression:
      return std::make_unique<SparseLogisticRegression>(max_batch, l2);
    case v1::ModelConfig::kFactorizationMachine: {
      const v1::FactorizationMachineConfig& fm = config.factorization_machine();
      return std::make_unique<FactorizationMachine>(
          fm.factor_dim(), max_batch, l2, static_cast<float>(fm.init_stddev()));
    }
    case v1::ModelConfig::kMatrixFactorization: {
      const v1::MatrixFactorizationConfig& mf = config.matrix_factorization();
      return std::make_unique<MatrixFactorization>(
          mf.rank(), mf.biases(), max_batch, l2,
          static_cast<float>(mf.init_stddev()));
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("model ", ModelName(config), " is dense, not sparse"));
  }
}

absl::StatusOr<ModelLayout> BuildLayout(const v1::ModelConfig& config,
                                        const DataShape& shape) {
  ModelLayout layout;
  if (IsSparseModel(config)) {
    ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> model,
                     CreateSparseModel(config, shape, /*max_batch=*/1));
    layout.dense = model->dense_layout();
    layout.table = model->table();
  } else {
    ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                     CreateModel(config, shape, /*max_batch=*/1,
                                 /*threads=*/1));
    layout.dense = model->layout();
  }
  return layout;
}

}  // namespace descent
