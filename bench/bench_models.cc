#include "bench/bench_models.h"

namespace descent {
namespace bench {
namespace {

LayerSpec Dense(int units) {
  LayerSpec spec;
  spec.kind = LayerSpec::kDense;
  spec.units = units;
  spec.activation = Activation::kRelu;
  spec.init = InitRule::kHeNormal;
  return spec;
}

LayerSpec Conv(int out_channels, int kernel, int padding) {
  LayerSpec spec = Dense(0);
  spec.kind = LayerSpec::kConv2D;
  spec.out_channels = out_channels;
  spec.kernel = kernel;
  spec.padding = padding;
  return spec;
}

LayerSpec Pool(int kernel, int stride) {
  LayerSpec spec;
  spec.kind = LayerSpec::kMaxPool2D;
  spec.kernel = kernel;
  spec.stride = stride;
  return spec;
}

int OutSize(int size, const LayerSpec& spec) {
  return (size + 2 * spec.padding - spec.kernel) / spec.stride + 1;
}

}  // namespace

ModelSpec Mlp() {
  return ModelSpec{"mlp", InputShape{1, 1, 784}, {Dense(256), Dense(128)}, 10};
}

ModelSpec Cnn() {
  return ModelSpec{
      "cnn",
      InputShape{1, 28, 28},
      {Conv(32, 5, 2), Pool(2, 2), Conv(64, 5, 2), Pool(2, 2), Dense(512)},
      10};
}

double GemmLayer::FlopsPerExample() const {
  const double one = conv ? 2.0 * m * k * n : 2.0 * k * n;
  return one * (input_gradient ? 3 : 2);
}

std::vector<GemmLayer> GemmPlan(const ModelSpec& spec) {
  std::vector<LayerSpec> layers = spec.hidden;
  LayerSpec output;
  output.units = spec.num_classes;
  layers.push_back(output);

  std::vector<GemmLayer> plan;
  InputShape shape = spec.input;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& layer = layers[i];
    const int64_t in_size =
        int64_t{shape.channels} * shape.height * shape.width;
    const bool input_gradient = i > 0;  // Network skips layer 0's d_input
    switch (layer.kind) {
      case LayerSpec::kDense:
        plan.push_back(
            GemmLayer{false, 0, in_size, layer.units, input_gradient});
        shape = InputShape{layer.units, 1, 1};
        break;
      case LayerSpec::kConv2D: {
        const InputShape out{layer.out_channels, OutSize(shape.height, layer),
                             OutSize(shape.width, layer)};
        plan.push_back(
            GemmLayer{true, layer.out_channels,
                      int64_t{shape.channels} * layer.kernel * layer.kernel,
                      int64_t{out.height} * out.width, input_gradient});
        shape = out;
        break;
      }
      case LayerSpec::kMaxPool2D:
        shape = InputShape{shape.channels, OutSize(shape.height, layer),
                           OutSize(shape.width, layer)};
        break;
    }
  }
  return plan;
}

double GemmFlopsPerExample(const std::vector<GemmLayer>& plan) {
  double flops = 0;
  for (const GemmLayer& layer : plan) flops += layer.FlopsPerExample();
  return flops;
}

}  // namespace bench
}  // namespace descent
