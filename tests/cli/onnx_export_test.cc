// The ONNX export (cli/onnx_export.h) of hand-made model directories: each
// dense kind passes libonnx's own checker and strict shape inference, with
// the documented inputs, outputs and their shapes, the parameters as
// initializers under their names, the scaling as Sub and Div, and a CNN's
// conv and pool attributes; sparse models and missing tensors are refused.
// (tests/integration/export_test.sh evaluates the graphs on data.)
#include "cli/onnx_export.h"

#include <map>
#include <string>
#include <vector>

#include "common/exit_codes.h"
#include "common/model/model_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// A model directory for `config` on `features` features and `classes`
// classes (0: regression), its parameters 0.01 * i for flat index i.
ModelDir MakeDir(const v1::ModelConfig& config, int64_t features,
                 int32_t classes) {
  ModelDir dir;
  v1::ModelManifest& m = dir.manifest;
  *m.mutable_model() = config;
  m.set_num_features(features);
  m.set_num_classes(classes);
  m.set_regression(classes == 0);
  absl::StatusOr<ModelLayout> layout = BuildLayout(config, {features, classes});
  EXPECT_TRUE(layout.ok()) << layout.status();
  int64_t next = 0;
  for (const TensorSpec& spec : layout->dense.tensors()) {
    NamedTensor t{spec.name, "F32", spec.shape, {}, {}};
    int64_t count = 1;
    for (const int64_t d : spec.shape) count *= d;
    for (int64_t i = 0; i < count; ++i) t.f32.push_back(0.01f * next++);
    dir.tensors.push_back(t);
  }
  return dir;
}

// The model, after checking it with libonnx as the Python tests do:
// check_model, then strict shape inference (which fills value_info).
onnx::ModelProto Export(const ModelDir& dir) {
  absl::StatusOr<onnx::ModelProto> model = OnnxModel(dir, "dir");
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  EXPECT_NO_THROW(onnx::checker::check_model(*model));
  EXPECT_NO_THROW(onnx::shape_inference::InferShapes(
      *model, onnx::OpSchemaRegistry::Instance(),
      onnx::ShapeInferenceOptions(/*check_type_val=*/true,
                                  /*strict_mode_val=*/1)));
  return *model;
}

std::vector<std::string> OpTypes(const onnx::ModelProto& model) {
  std::vector<std::string> ops;
  for (const onnx::NodeProto& node : model.graph().node()) {
    ops.push_back(node.op_type());
  }
  return ops;
}

// "name:type[d0,d1]" of a graph input or output, "N" for a symbolic dim.
std::string Describe(const onnx::ValueInfoProto& info) {
  const onnx::TypeProto::Tensor& t = info.type().tensor_type();
  std::string text =
      info.name() + ":" + onnx::TensorProto::DataType_Name(t.elem_type()) + "[";
  for (int i = 0; i < t.shape().dim_size(); ++i) {
    const auto& dim = t.shape().dim(i);
    text += (i > 0 ? "," : "") + (dim.has_dim_param()
                                      ? dim.dim_param()
                                      : std::to_string(dim.dim_value()));
  }
  return text + "]";
}

std::vector<std::string> Outputs(const onnx::ModelProto& model) {
  std::vector<std::string> outputs;
  for (const auto& output : model.graph().output()) {
    outputs.push_back(Describe(output));
  }
  return outputs;
}

// The inferred value_info of `name` after Export's shape inference.
std::string Inferred(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& info : model.graph().value_info()) {
    if (info.name() == name) return Describe(info);
  }
  return "none";
}

const onnx::NodeProto* FindNode(const onnx::ModelProto& model,
                                const std::string& name) {
  for (const onnx::NodeProto& node : model.graph().node()) {
    if (node.name() == name) return &node;
  }
  return nullptr;
}

std::map<std::string, std::vector<int64_t>> Ints(const onnx::NodeProto& node) {
  std::map<std::string, std::vector<int64_t>> attributes;
  for (const onnx::AttributeProto& a : node.attribute()) {
    attributes[a.name()] =
        a.type() == onnx::AttributeProto::INT
            ? std::vector<int64_t>{a.i()}
            : std::vector<int64_t>(a.ints().begin(), a.ints().end());
  }
  return attributes;
}

TEST(OnnxExportTest, SoftmaxScalesItsInputAndHasProbabilitiesAndClass) {
  v1::ModelConfig config;
  config.mutable_softmax_regression();
  ModelDir dir = MakeDir(config, 2, 3);
  v1::FeatureScaling* scaling = dir.manifest.mutable_scaling();
  scaling->set_kind(v1::STANDARDIZE);
  scaling->add_offset(10);
  scaling->add_offset(-1);
  scaling->add_scale(2);
  scaling->add_scale(0.5f);
  const onnx::ModelProto model = Export(dir);
  EXPECT_EQ(model.ir_version(), 7);
  ASSERT_EQ(model.opset_import_size(), 1);
  EXPECT_EQ(model.opset_import(0).version(), 13);
  ASSERT_EQ(model.graph().input_size(), 1);
  EXPECT_EQ(Describe(model.graph().input(0)), "input:FLOAT[N,2]");
  EXPECT_THAT(Outputs(model),
              ElementsAre("probabilities:FLOAT[N,3]", "class:INT64[N]"));
  EXPECT_THAT(OpTypes(model),
              ElementsAre("Sub", "Div", "MatMul", "Add", "Softmax", "ArgMax"));
  EXPECT_EQ(Inferred(model, "logits"), "logits:FLOAT[N,3]");
  std::map<std::string, std::vector<float>> initializers;
  for (const onnx::TensorProto& t : model.graph().initializer()) {
    initializers[t.name()].assign(t.float_data().begin(), t.float_data().end());
  }
  EXPECT_THAT(initializers["scaling/offset"], ElementsAre(10, -1));
  EXPECT_THAT(initializers["scaling/scale"], ElementsAre(2, 0.5f));
  EXPECT_THAT(initializers["weights"], ElementsAreArray(dir.tensors[0].f32));
  EXPECT_THAT(initializers["bias"], ElementsAreArray(dir.tensors[1].f32));
  const onnx::NodeProto* argmax = FindNode(model, "class");
  ASSERT_NE(argmax, nullptr);
  EXPECT_EQ(argmax->input(0), "logits");  // the first highest logit
  EXPECT_THAT(Ints(*argmax)["axis"], ElementsAre(1));
  EXPECT_THAT(Ints(*argmax)["keepdims"], ElementsAre(0));
  EXPECT_THAT(Ints(*argmax)["select_last_index"], ElementsAre(0));
}

TEST(OnnxExportTest, LinearModelsHaveTheirOutputsAndOperators) {
  struct Case {
    const char* name;
    v1::ModelConfig config;
    int64_t features;
    int32_t classes;
    std::vector<std::string> outputs;
    std::vector<std::string> ops;
  };
  std::vector<Case> cases(3);
  cases[0] = {
      "logistic regression: sigmoid(-z), sigmoid(z)",
      {},
      4,
      2,
      {"probabilities:FLOAT[N,2]", "class:INT64[N]"},
      {"MatMul", "Add", "Unsqueeze", "Neg", "Concat", "Sigmoid", "ArgMax"}};
  cases[0].config.mutable_logistic_regression();
  cases[1] = {"linear regression: a value alone",
              {},
              5,
              0,
              {"value:FLOAT[N]"},
              {"MatMul", "Add"}};
  cases[1].config.mutable_linear_regression();
  cases[2] = {"linear SVM: scores, not probabilities",
              {},
              3,
              4,
              {"scores:FLOAT[N,4]", "class:INT64[N]"},
              {"MatMul", "Add", "ArgMax"}};
  cases[2].config.mutable_linear_svm();
  for (const Case& c : cases) {
    const onnx::ModelProto model =
        Export(MakeDir(c.config, c.features, c.classes));
    EXPECT_THAT(Outputs(model), ElementsAreArray(c.outputs)) << c.name;
    EXPECT_THAT(OpTypes(model), ElementsAreArray(c.ops)) << c.name;
  }
  EXPECT_EQ(Inferred(Export(MakeDir(cases[0].config, 4, 2)), "logits"),
            "logits:FLOAT[N,2]");
}

TEST(OnnxExportTest, MlpLayersInOrderWithTheirActivations) {
  v1::ModelConfig config;
  v1::MlpConfig* mlp = config.mutable_mlp();
  mlp->add_layers()->set_units(6);  // RELU, the default
  v1::DenseConfig* second = mlp->add_layers();
  second->set_units(5);
  second->set_activation(v1::TANH);
  const onnx::ModelProto model = Export(MakeDir(config, 4, 3));
  EXPECT_THAT(OpTypes(model),
              ElementsAre("MatMul", "Add", "Relu", "MatMul", "Add", "Tanh",
                          "MatMul", "Add", "Softmax", "ArgMax"));
  EXPECT_EQ(FindNode(model, "layer0/matmul")->input(1), "layer0/weights");
  EXPECT_EQ(Inferred(model, "layer1/activation"),
            "layer1/activation:FLOAT[N,5]");
  EXPECT_EQ(FindNode(model, "class")->input(0), "layer2/add");
}

TEST(OnnxExportTest, CnnWindowsPaddingStridesAndFlattening) {
  // 8x8 images: conv 3x3 stride 2 pad 1 sigmoid -> 3x4x4, pool 2 -> 3x2x2,
  // dense 7, then 10 classes.
  v1::ModelConfig config;
  v1::CnnConfig* cnn = config.mutable_cnn();
  v1::ConvConfig* conv = cnn->add_layers()->mutable_conv();
  conv->set_out_channels(3);
  conv->set_kernel(3);
  conv->set_stride(2);
  conv->set_padding(1);
  conv->set_activation(v1::SIGMOID);
  v1::PoolConfig* pool_config = cnn->add_layers()->mutable_max_pool();
  pool_config->set_size(2);
  pool_config->set_stride(2);
  cnn->add_layers()->mutable_dense()->set_units(7);
  const onnx::ModelProto model = Export(MakeDir(config, 64, 10));
  EXPECT_THAT(
      OpTypes(model),
      ElementsAre("Reshape", "Conv", "Sigmoid", "MaxPool", "Reshape", "MatMul",
                  "Add", "Relu", "MatMul", "Add", "Softmax", "ArgMax"));
  const onnx::NodeProto* c = FindNode(model, "layer0/conv");
  ASSERT_NE(c, nullptr);
  EXPECT_THAT(Ints(*c)["kernel_shape"], ElementsAre(3, 3));
  EXPECT_THAT(Ints(*c)["strides"], ElementsAre(2, 2));
  EXPECT_THAT(Ints(*c)["pads"], ElementsAre(1, 1, 1, 1));
  const onnx::NodeProto* pool = FindNode(model, "layer1/maxpool");
  ASSERT_NE(pool, nullptr);
  EXPECT_THAT(Ints(*pool)["kernel_shape"], ElementsAre(2, 2));
  EXPECT_THAT(Ints(*pool)["strides"], ElementsAre(2, 2));
  EXPECT_EQ(Inferred(model, "layer0/image"), "layer0/image:FLOAT[N,1,8,8]");
  EXPECT_EQ(Inferred(model, "layer1/maxpool"), "layer1/maxpool:FLOAT[N,3,2,2]");
  EXPECT_EQ(Inferred(model, "layer2/flatten"), "layer2/flatten:FLOAT[N,12]");
  EXPECT_EQ(Inferred(model, "probabilities"), "none");  // an output
  EXPECT_THAT(Outputs(model),
              ElementsAre("probabilities:FLOAT[N,10]", "class:INT64[N]"));
}

TEST(OnnxExportTest, SparseModelsAreRefusedNamingTheKind) {
  ModelDir dir;
  dir.manifest.mutable_model()->mutable_sparse_logistic_regression();
  dir.manifest.set_sparse(true);
  absl::StatusOr<onnx::ModelProto> model = OnnxModel(dir, "runs/ctr/model");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(),
              HasSubstr("runs/ctr/model holds a sparse model "
                        "(sparse_logistic_regression)"));
  EXPECT_EQ(ExitCodeFor(model.status()), kExitUsage);
}

TEST(OnnxExportTest, AMissingTensorIsDataLossNamingIt) {
  v1::ModelConfig config;
  config.mutable_softmax_regression();
  ModelDir dir = MakeDir(config, 2, 3);
  dir.tensors.pop_back();
  absl::StatusOr<onnx::ModelProto> model = OnnxModel(dir, "dir");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(model.status().message(), HasSubstr("bias"));
}

}  // namespace
}  // namespace descent
