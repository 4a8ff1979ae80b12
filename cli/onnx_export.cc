#include "cli/onnx_export.h"

#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/predict.h"
#include "common/exit_codes.h"
#include "common/model/model_factory.h"
#include "common/model/network.h"
#include "common/status_macros.h"
#include "common/storage/atomic_file.h"

namespace descent {
namespace {

// A dimension of a graph input or output: kBatch is the symbolic "N".
constexpr int64_t kBatch = -1;

// Appends nodes and initializers to one graph.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  // A float initializer `name` of shape `dims` holding `values` (row-major,
  // the product of dims of them).
  void Floats(const std::string& name, const std::vector<int64_t>& dims,
              const float* values) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t count = 1;
    for (const int64_t d : dims) {
      t->add_dims(d);
      count *= d;
    }
    t->mutable_float_data()->Add(values, values + count);
  }

  // A 1-D int64 initializer (a shape, or axes).
  std::string Int64s(const std::string& name,
                     const std::vector<int64_t>& values) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    t->mutable_int64_data()->Add(values.begin(), values.end());
    return name;
  }

  // Node `op` reading `inputs` and writing `output` (also its name).
  onnx::NodeProto* Node(const std::string& op,
                        const std::vector<std::string>& inputs,
                        const std::string& output) {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(output);
    for (const std::string& input : inputs) node->add_input(input);
    node->add_output(output);
    return node;
  }

  // `node`'s output (its first).
  static const std::string& Out(const onnx::NodeProto* node) {
    return node->output(0);
  }

 private:
  onnx::GraphProto* graph_;
};

void SetInt(onnx::NodeProto* node, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void SetInts(onnx::NodeProto* node, const std::string& name,
             const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (const int64_t v : values) a->add_ints(v);
}

void SetValueInfo(onnx::ValueInfoProto* info, const std::string& name,
                  onnx::TensorProto::DataType type,
                  const std::vector<int64_t>& dims) {
  info->set_name(name);
  onnx::TypeProto::Tensor* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(type);
  for (const int64_t d : dims) {
    onnx::TensorShapeProto::Dimension* dim = tensor->mutable_shape()->add_dim();
    if (d == kBatch) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d);
    }
  }
}

// "input", scaled as the manifest says: the name of the scaled features.
std::string ScaledInput(const v1::ModelManifest& m, GraphBuilder& g) {
  const v1::FeatureScaling& scaling = m.scaling();
  if (scaling.kind() == v1::NO_SCALING) return "input";
  const std::vector<int64_t> dims = {m.num_features()};
  g.Floats("scaling/offset", dims, scaling.offset().data());
  g.Floats("scaling/scale", dims, scaling.scale().data());
  const auto* centred = g.Node("Sub", {"input", "scaling/offset"}, "centred");
  return GraphBuilder::Out(
      g.Node("Div", {GraphBuilder::Out(centred), "scaling/scale"}, "scaled"));
}

// x @ weights + bias, of the tensors under `prefix` ("" or "layer<i>/"),
// named `name`.
std::string Affine(GraphBuilder& g, const std::string& x,
                   const std::string& prefix, const std::string& name) {
  const auto* product =
      g.Node("MatMul", {x, prefix + "weights"}, prefix + "matmul");
  return GraphBuilder::Out(
      g.Node("Add", {GraphBuilder::Out(product), prefix + "bias"}, name));
}

// `x` through `activation`, named `name`; `x` itself for none.
std::string Activate(GraphBuilder& g, Activation activation,
                     const std::string& x, const std::string& name) {
  switch (activation) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return GraphBuilder::Out(g.Node("Relu", {x}, name));
    case Activation::kTanh:
      return GraphBuilder::Out(g.Node("Tanh", {x}, name));
    case Activation::kSigmoid:
      return GraphBuilder::Out(g.Node("Sigmoid", {x}, name));
  }
  return x;
}

// The network's layers on `x` [N, F]; returns the logits [N, C].
std::string NetworkLogits(const Network& network, GraphBuilder& g,
                          std::string x) {
  bool image = false;  // whether x is [N, C, H, W] rather than [N, F]
  const std::vector<Network::Layer>& layers = network.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    const Network::Layer& layer = layers[i];
    const LayerSpec& spec = layer.spec;
    const kernels::Window2D& w = layer.window;
    const std::string prefix = absl::StrCat("layer", i, "/");
    if (spec.kind == LayerSpec::kDense) {
      if (image) {  // CHW flattened, as descent's dense layers read it
        x = GraphBuilder::Out(g.Node(
            "Reshape", {x, g.Int64s(prefix + "flat_shape", {0, layer.in_size})},
            prefix + "flatten"));
        image = false;
      }
      x = Activate(g, spec.activation, Affine(g, x, prefix, prefix + "add"),
                   prefix + "activation");
      continue;
    }
    if (!image) {  // 0 copies N
      x = GraphBuilder::Out(
          g.Node("Reshape",
                 {x, g.Int64s(prefix + "image_shape",
                              {0, w.channels, w.height, w.width})},
                 prefix + "image"));
      image = true;
    }
    const std::vector<int64_t> kernel = {w.kernel, w.kernel};
    const std::vector<int64_t> strides = {w.stride, w.stride};
    if (spec.kind == LayerSpec::kMaxPool2D) {
      onnx::NodeProto* pool = g.Node("MaxPool", {x}, prefix + "maxpool");
      SetInts(pool, "kernel_shape", kernel);
      SetInts(pool, "strides", strides);
      x = GraphBuilder::Out(pool);
      continue;
    }
    onnx::NodeProto* conv = g.Node(
        "Conv", {x, prefix + "weights", prefix + "bias"}, prefix + "conv");
    SetInts(conv, "kernel_shape", kernel);
    SetInts(conv, "strides", strides);
    SetInts(conv, "pads", {w.padding, w.padding, w.padding, w.padding});
    x = Activate(g, spec.activation, GraphBuilder::Out(conv),
                 prefix + "activation");
  }
  return x;
}

// ArgMax over axis 1, the first on a tie, as "class" [N].
void ClassOutput(GraphBuilder& g, const std::string& logits) {
  onnx::NodeProto* argmax = g.Node("ArgMax", {logits}, "class");
  SetInt(argmax, "axis", 1);
  SetInt(argmax, "keepdims", 0);
  SetInt(argmax, "select_last_index", 0);
}

// The graph's nodes from the scaled input `x` to its outputs, declaring the
// outputs.
void AddPredictions(const v1::ModelManifest& m, const Model& model,
                    GraphBuilder& g, const std::string& x,
                    onnx::GraphProto* graph) {
  const int64_t classes = m.num_classes();
  const v1::ModelConfig& config = m.model();
  std::string logits;
  if (config.has_linear_regression()) {
    Affine(g, x, "", "value");
    SetValueInfo(graph->add_output(), "value", onnx::TensorProto::FLOAT,
                 {kBatch});
    return;
  }
  if (config.has_logistic_regression()) {  // logits -z, z of the logit z
    const std::string z = GraphBuilder::Out(
        g.Node("Unsqueeze", {Affine(g, x, "", "z"), g.Int64s("axis_1", {1})},
               "logit"));
    const auto* negated = g.Node("Neg", {z}, "negated_logit");
    onnx::NodeProto* both =
        g.Node("Concat", {GraphBuilder::Out(negated), z}, "logits");
    SetInt(both, "axis", 1);
    logits = GraphBuilder::Out(both);
    g.Node("Sigmoid", {logits}, "probabilities");
  } else if (config.has_linear_svm()) {
    logits = Affine(g, x, "", "scores");
  } else {
    // MLPs and CNNs are Networks (model_factory.h).
    logits = config.has_softmax_regression()
                 ? Affine(g, x, "", "logits")
                 : NetworkLogits(static_cast<const Network&>(model), g, x);
    SetInt(g.Node("Softmax", {logits}, "probabilities"), "axis", 1);
  }
  SetValueInfo(graph->add_output(),
               config.has_linear_svm() ? "scores" : "probabilities",
               onnx::TensorProto::FLOAT, {kBatch, classes});
  ClassOutput(g, logits);
  SetValueInfo(graph->add_output(), "class", onnx::TensorProto::INT64,
               {kBatch});
}

void AddMetadata(const v1::ModelManifest& m, onnx::ModelProto* model) {
  const auto add = [model](const std::string& key, const std::string& value) {
    onnx::StringStringEntryProto* entry = model->add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  };
  add("model", m.model().ShortDebugString());
  add("job_id", m.job_id());
  add("evaluation", m.evaluation());
  add("global_step", absl::StrCat(m.global_step()));
  add("config_hash", m.config_hash());
  // labels[c], one a line, where class c stands for a label of the data's.
  if (!m.labels().empty()) add("labels", absl::StrJoin(m.labels(), "\n"));
}

}  // namespace

absl::StatusOr<onnx::ModelProto> OnnxModel(ModelDir dir,
                                           const std::string& path) {
  if (dir.manifest.sparse()) {
    return WithExitCode(
        absl::InvalidArgumentError(absl::StrCat(
            path, " holds a sparse model (", ModelName(dir.manifest.model()),
            "): descent export covers dense models only (linear, logistic, "
            "softmax, SVM, MLP, CNN)")),
        kExitUsage);
  }
  ASSIGN_OR_RETURN(LoadedModel loaded,
                   BuildDenseModel(std::move(dir), path, /*max_batch=*/1,
                                   /*threads=*/1));
  const v1::ModelManifest& m = loaded.dir.manifest;
  onnx::ModelProto model;
  model.set_ir_version(kOnnxIrVersion);
  model.set_producer_name("descent");
  model.set_model_version(1);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  AddMetadata(m, &model);

  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(ModelName(m.model()));
  graph->set_doc_string(
      "input: the features as descent predict reads them (IDX pixels / "
      "255), before the manifest's scaling, which the graph applies");
  SetValueInfo(graph->add_input(), "input", onnx::TensorProto::FLOAT,
               {kBatch, m.num_features()});
  GraphBuilder g(graph);
  const ParamLayout& layout = loaded.model->layout();
  for (size_t i = 0; i < layout.tensors().size(); ++i) {
    const TensorSpec& tensor = layout.tensors()[i];
    g.Floats(tensor.name, tensor.shape,
             loaded.params.data() + layout.offset(i));
  }
  AddPredictions(m, *loaded.model, g, ScaledInput(m, g), graph);
  return model;
}

int RunExport(const ExportOptions& options) {
  if (options.format != "onnx") {
    return Fail("export", WithExitCode(absl::InvalidArgumentError(absl::StrCat(
                                           "--format=", options.format,
                                           ": not an export format; use onnx")),
                                       kExitUsage));
  }
  absl::StatusOr<ModelDir> dir = ReadModelDir(options.model_dir);
  if (!dir.ok()) return Fail("export", dir.status());
  absl::StatusOr<onnx::ModelProto> model =
      OnnxModel(*std::move(dir), options.model_dir);
  if (!model.ok()) return Fail("export", model.status());
  const std::string output = options.output.empty()
                                 ? options.model_dir + "/model.onnx"
                                 : options.output;
  const absl::Status written =
      WriteFileAtomically(output, model->SerializeAsString());
  if (!written.ok()) {
    return Fail("export", WithExitCode(written, kExitJobFailed));
  }
  std::printf("%s\n", output.c_str());
  return kExitOk;
}

}  // namespace descent
