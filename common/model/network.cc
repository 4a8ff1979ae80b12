#include "common/model/network.h"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model/batch_chunks.h"
#include "common/model/eigen_maps.h"
#include "common/status_macros.h"
#include "glog/logging.h"

namespace descent {
namespace {

const char* KindName(LayerSpec::Kind kind) {
  switch (kind) {
    case LayerSpec::kDense:
      return "dense";
    case LayerSpec::kConv2D:
      return "conv2d";
    case LayerSpec::kMaxPool2D:
      return "maxpool2d";
  }
  return "unknown kind";
}

absl::Status LayerError(int index, const LayerSpec& spec,
                        const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("layer ", index, " (", KindName(spec.kind), "): ", what));
}

// Checks that a conv or pool window fits its input `in`.
absl::Status CheckWindow(int index, const LayerSpec& spec,
                         const InputShape& in) {
  if (spec.kernel < 1 || spec.stride < 1 || spec.padding < 0) {
    return LayerError(
        index, spec,
        absl::StrFormat("kernel %d, stride %d, padding %d: need kernel >= 1, "
                        "stride >= 1, padding >= 0",
                        spec.kernel, spec.stride, spec.padding));
  }
  if (spec.kind == LayerSpec::kMaxPool2D &&
      (spec.padding != 0 || spec.activation != Activation::kNone)) {
    return LayerError(index, spec,
                      "max-pooling takes no padding or activation");
  }
  const int64_t padded_height = int64_t{in.height} + 2 * int64_t{spec.padding};
  const int64_t padded_width = int64_t{in.width} + 2 * int64_t{spec.padding};
  if (spec.kernel > padded_height || spec.kernel > padded_width) {
    return LayerError(
        index, spec,
        absl::StrFormat("kernel %d exceeds the padded %dx%d input", spec.kernel,
                        padded_height, padded_width));
  }
  return absl::OkStatus();
}

absl::Status CheckLayer(int index, const LayerSpec& spec,
                        const InputShape& in) {
  switch (spec.kind) {
    case LayerSpec::kDense:
      if (spec.units >= 1) return absl::OkStatus();
      return LayerError(index, spec,
                        absl::StrCat("units ", spec.units, " < 1"));
    case LayerSpec::kConv2D:
      if (spec.out_channels < 1) {
        return LayerError(
            index, spec,
            absl::StrCat("out_channels ", spec.out_channels, " < 1"));
      }
      return CheckWindow(index, spec, in);
    case LayerSpec::kMaxPool2D:
      return CheckWindow(index, spec, in);
  }
  return LayerError(index, spec, "unknown layer kind");
}

kernels::Window2D WindowOf(const LayerSpec& spec, const InputShape& in) {
  if (spec.kind == LayerSpec::kDense) {
    return kernels::Window2D{in.channels, in.height, in.width, 1, 1, 0};
  }
  return kernels::Window2D{in.channels, in.height,   in.width,
                           spec.kernel, spec.stride, spec.padding};
}

InputShape OutputShape(const LayerSpec& spec, const kernels::Window2D& w) {
  switch (spec.kind) {
    case LayerSpec::kDense:
      return InputShape{spec.units, 1, 1};
    case LayerSpec::kConv2D:
      return InputShape{spec.out_channels, w.out_height(), w.out_width()};
    case LayerSpec::kMaxPool2D:
      break;
  }
  return InputShape{w.channels, w.out_height(), w.out_width()};
}

}  // namespace

absl::StatusOr<std::unique_ptr<Network>> Network::Create(
    InputShape input, std::vector<LayerSpec> layers, int num_classes,
    int max_batch, int threads, float l2, InitRule output_init) {
  if (input.channels < 1 || input.height < 1 || input.width < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("input shape %dx%dx%d: every dimension must be >= 1",
                        input.channels, input.height, input.width));
  }
  if (num_classes < 1 || max_batch < 1 || !(l2 >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("need num_classes >= 1, max_batch >= 1 and l2 >= 0; got ",
                     num_classes, ", ", max_batch, " and ", l2));
  }
  LayerSpec output;
  output.units = num_classes;
  output.init = output_init;
  layers.push_back(output);
  ParamLayout layout;
  ASSIGN_OR_RETURN(std::vector<Layer> resolved,
                   Resolve(input, layers, &layout));
  return std::unique_ptr<Network>(new Network(
      std::move(resolved), std::move(layout), max_batch, threads, l2));
}

absl::StatusOr<std::vector<Network::Layer>> Network::Resolve(
    InputShape input, const std::vector<LayerSpec>& specs,
    ParamLayout* layout) {
  std::vector<Layer> layers(specs.size());
  InputShape shape = input;
  for (size_t i = 0; i < specs.size(); ++i) {
    const int index = static_cast<int>(i);
    RETURN_IF_ERROR(CheckLayer(index, specs[i], shape));
    Layer& layer = layers[i];
    layer.spec = specs[i];
    layer.window = WindowOf(specs[i], shape);
    shape = OutputShape(specs[i], layer.window);
    layer.in_size = layer.window.in_size();
    layer.out_size = int64_t{shape.channels} * shape.height * shape.width;
    // Pool argmax positions are int32 within an example.
    if (layer.out_size > std::numeric_limits<int32_t>::max()) {
      return LayerError(index, specs[i], "output too large");
    }
    if (specs[i].kind != LayerSpec::kMaxPool2D) {
      AddTensors(index, &layer, layout);
    }
  }
  return layers;
}

void Network::AddTensors(int index, Layer* layer, ParamLayout* layout) {
  const LayerSpec& spec = layer->spec;
  const std::string prefix = absl::StrCat("layer", index);
  const size_t tensor = layout->tensors().size();
  if (spec.kind == LayerSpec::kDense) {
    layout->Add(TensorSpec{prefix + "/weights",
                           {layer->in_size, spec.units},
                           spec.init,
                           layer->in_size,
                           spec.units});
    layout->Add(
        BiasSpec(prefix + "/bias", spec.units, spec.init, layer->in_size));
  } else {
    const int64_t k2 = int64_t{spec.kernel} * spec.kernel;
    const int in_channels = layer->window.channels;
    layout->Add(
        TensorSpec{prefix + "/weights",
                   {spec.out_channels, in_channels, spec.kernel, spec.kernel},
                   spec.init,
                   in_channels * k2,
                   spec.out_channels * k2});
    layout->Add(BiasSpec(prefix + "/bias", spec.out_channels, spec.init,
                         in_channels * k2));
  }
  layer->weights = layout->offset(tensor);
  layer->bias = layout->offset(tensor + 1);
}

Network::Network(std::vector<Layer> layers, ParamLayout layout, int max_batch,
                 int threads, float l2)
    : layers_(std::move(layers)),
      layout_(std::move(layout)),
      num_classes_(layers_.back().spec.units),
      max_batch_(max_batch),
      threads_(std::min(threads > 0 ? threads : omp_get_num_procs(),
                        std::max(max_batch, 1))),
      l2_(l2),
      chunks_(threads_) {
  AllocateChunks();
}

void Network::AllocateChunks() {
  const int64_t rows = (max_batch_ + threads_ - 1) / threads_;
  int64_t widest_input = 0;  // of the layers that pass a gradient back
  int64_t columns = 0;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    if (l > 0) widest_input = std::max(widest_input, layer.in_size);
    if (layer.spec.kind == LayerSpec::kConv2D) {
      columns = std::max(
          columns, layer.window.patch_size() * layer.window.out_positions());
    }
  }
  for (Chunk& chunk : chunks_) {
    chunk.outputs.resize(layers_.size());
    chunk.argmax.resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      chunk.outputs[l].resize(rows * layers_[l].out_size);
      if (layers_[l].spec.kind != LayerSpec::kMaxPool2D) continue;
      chunk.argmax[l].resize(rows * layers_[l].out_size);
    }
    chunk.columns.resize(columns);
    for (AlignedFloats& delta : chunk.deltas) {
      delta.resize(rows * widest_input);
    }
    chunk.gradient.resize(layout_.size());
  }
}

float Network::LossAndGradient(const float* params, const Batch& batch,
                               float* grad) {
  CHECK(batch.size >= 1 && batch.size <= max_batch_)
      << "batch of " << batch.size << " (max " << max_batch_ << ")";
  const float scale = 1.0f / static_cast<float>(batch.size);
  // One chunk writes the caller's gradient itself: summing one is a copy.
  const bool direct = chunks_.size() == 1;
  ForEachChunk(threads_, batch.size, [&](int c, IndexRange rows) {
    Forward(params, batch.features, batch.labels, rows, &chunks_[c]);
    Backward(params, batch.features, batch.labels, rows, scale, &chunks_[c],
             direct ? grad : chunks_[c].gradient.data());
  });
  if (!direct) SumChunkGradients(chunks_, layout_.size(), grad);
  return static_cast<float>(SumChunkLosses(chunks_) / batch.size +
                            AddPenalty(params, grad));
}

float Network::LossAndSgdStep(float* params, const Batch& batch, float lr,
                              float* grad) {
  const bool dense = std::all_of(
      layers_.begin(), layers_.end(),
      [](const Layer& layer) { return layer.spec.kind == LayerSpec::kDense; });
  if (chunks_.size() != 1 || !dense) {
    return Model::LossAndSgdStep(params, batch, lr, grad);
  }
  CHECK(batch.size >= 1 && batch.size <= max_batch_)
      << "batch of " << batch.size << " (max " << max_batch_ << ")";
  double penalty = 0;  // of the weights before the step
  if (l2_ != 0) {
    for (const Layer& layer : layers_) {
      penalty += SumOf(params + layer.weights, layer.bias - layer.weights,
                       /*squares=*/true);
    }
    penalty *= 0.5 * l2_;
  }
  Chunk* chunk = &chunks_[0];
  ForEachChunk(1, batch.size, [&](int, IndexRange rows) {
    Forward(params, batch.features, batch.labels, rows, chunk);
    const int64_t m = rows.size();
    float* d_output =
        LogitGradient(batch.labels, rows, 1.0f / static_cast<float>(m), chunk);
    for (int l = static_cast<int>(layers_.size()) - 1; l >= 0; --l) {
      const Layer& layer = layers_[l];
      const float* input =
          l == 0 ? batch.features : chunk->outputs[l - 1].data();
      float* d_input = l == 0 ? nullptr : chunk->deltas[l % 2].data();
      kernels::ActivationBackward(layer.spec.activation, m * layer.out_size,
                                  chunk->outputs[l].data(), d_output);
      kernels::DenseSgdBackward(layer.in_size, layer.out_size,
                                params + layer.weights, params + layer.bias,
                                input, d_output, m, lr, l2_, d_input);
      d_output = d_input;
    }
  });
  return static_cast<float>(chunk->loss_sum / batch.size + penalty);
}

EvalResult Network::Evaluate(const float* params, const Batch& examples) {
  const int64_t features = layers_[0].in_size;
  CHECK_GE(examples.size, 0);
  return EvaluateBySlices(
      examples.size, max_batch_, chunks_, [&](int64_t start, int64_t rows) {
        ForwardAll(params, examples.features + start * features,
                   examples.labels + start, rows);
      });
}

void Network::ForwardAll(const float* params, const float* features,
                         const int32_t* labels, int64_t n) {
  ForEachChunk(threads_, n, [&](int c, IndexRange rows) {
    Forward(params, features, labels, rows, &chunks_[c]);
  });
}

void Network::Forward(const float* params, const float* features,
                      const int32_t* labels, IndexRange rows,
                      Chunk* chunk) const {
  const int64_t m = rows.size();
  const float* input = features + rows.begin * layers_[0].in_size;
  for (size_t l = 0; l < layers_.size(); ++l) {
    LayerForward(static_cast<int>(l), params, input, m, chunk);
    input = chunk->outputs[l].data();
  }
  float* logits = chunk->outputs.back().data();
  chunk->loss_sum = 0;
  chunk->correct = 0;
  for (int64_t i = 0; i < m; ++i) {
    const int32_t label = labels[rows.begin + i];
    CHECK(label >= 0 && label < num_classes_)
        << "label " << label << " of example " << rows.begin + i;
    bool correct = false;
    chunk->loss_sum += kernels::SoftmaxCrossEntropy(
        num_classes_, label, logits + i * num_classes_, &correct);
    chunk->correct += correct;
  }
}

void Network::LayerForward(int l, const float* params, const float* input,
                           int64_t rows, Chunk* chunk) const {
  const Layer& layer = layers_[l];
  float* output = chunk->outputs[l].data();
  switch (layer.spec.kind) {
    case LayerSpec::kDense:
      kernels::DenseForward(layer.in_size, layer.out_size,
                            params + layer.weights, params + layer.bias, input,
                            rows, output);
      break;
    case LayerSpec::kConv2D:
      kernels::Conv2DForward(layer.window, layer.spec.out_channels,
                             params + layer.weights, params + layer.bias, input,
                             rows, chunk->columns.data(), output);
      break;
    case LayerSpec::kMaxPool2D:
      kernels::MaxPoolForward(layer.window, input, rows, output,
                              chunk->argmax[l].data());
      break;
  }
  kernels::ActivationForward(layer.spec.activation, rows * layer.out_size,
                             output);
}

float* Network::LogitGradient(const int32_t* labels, IndexRange rows,
                              float scale, Chunk* chunk) const {
  // d(loss)/d(logits) = softmax - onehot, scaled to the batch mean.
  const int64_t m = rows.size();
  float* d_output = chunk->outputs.back().data();
  for (int64_t i = 0; i < m; ++i) {
    d_output[i * num_classes_ + labels[rows.begin + i]] -= 1.0f;
  }
  RowVectorMap(d_output, m * num_classes_) *= scale;
  return d_output;
}

void Network::Backward(const float* params, const float* features,
                       const int32_t* labels, IndexRange rows, float scale,
                       Chunk* chunk, float* gradient) const {
  const int64_t m = rows.size();
  if (m == 0) {
    std::fill(gradient, gradient + layout_.size(), 0.0f);
    return;
  }
  float* d_output = LogitGradient(labels, rows, scale, chunk);
  for (int l = static_cast<int>(layers_.size()) - 1; l >= 0; --l) {
    const float* input = l == 0 ? features + rows.begin * layers_[0].in_size
                                : chunk->outputs[l - 1].data();
    float* d_input = l == 0 ? nullptr : chunk->deltas[l % 2].data();
    LayerBackward(l, params, input, d_output, m, chunk, gradient, d_input);
    d_output = d_input;
  }
}

void Network::LayerBackward(int l, const float* params, const float* input,
                            float* d_output, int64_t rows, Chunk* chunk,
                            float* grad, float* d_input) const {
  const Layer& layer = layers_[l];
  kernels::ActivationBackward(layer.spec.activation, rows * layer.out_size,
                              chunk->outputs[l].data(), d_output);
  switch (layer.spec.kind) {
    case LayerSpec::kDense:
      kernels::DenseBackward(layer.in_size, layer.out_size,
                             params + layer.weights, input, d_output, rows,
                             grad + layer.weights, grad + layer.bias, d_input);
      break;
    case LayerSpec::kConv2D:
      kernels::Conv2DBackward(layer.window, layer.spec.out_channels,
                              params + layer.weights, input, d_output, rows,
                              chunk->columns.data(), grad + layer.weights,
                              grad + layer.bias, d_input);
      break;
    case LayerSpec::kMaxPool2D:
      if (d_input == nullptr) break;
      kernels::MaxPoolBackward(layer.window, chunk->argmax[l].data(), d_output,
                               rows, d_input);
      break;
  }
}

double Network::AddPenalty(const float* params, float* grad) const {
  if (l2_ == 0) return 0;
  double sum_squares = 0;
  for (const Layer& layer : layers_) {
    if (layer.weights < 0) continue;
    const int64_t n = layer.bias - layer.weights;
    ConstRowVectorMap w(params + layer.weights, n);
    RowVectorMap(grad + layer.weights, n) += l2_ * w;
    sum_squares += SumOf(params + layer.weights, n, /*squares=*/true);
  }
  return 0.5 * l2_ * sum_squares;
}

}  // namespace descent
