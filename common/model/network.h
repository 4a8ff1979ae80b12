// A feed-forward classifier: hidden dense, 2-D convolution and 2-D max-pool
// layers, then a dense output layer of num_classes logits under the mean
// softmax cross-entropy, plus (l2 / 2) * ||W||^2 over every weight tensor
// (never the biases). Covers MLPs and small CNNs: an MLP 784-256-128-10 is
// input {1, 28, 28} (or {1, 1, 784}), hidden layers dense 256 relu, dense
// 128 relu, and 10 classes; the McMahan et al. 2017 CNN is conv 5x5x32 pad 2
// relu, pool 2 stride 2, conv 5x5x64 pad 2 relu, pool 2 stride 2, dense 512
// relu, then 10 classes.
//
// Examples are rows of c*h*w features in CHW order. A dense layer after a
// conv or pool reads its CHW output flattened; a dense layer's output is a
// {units, 1, 1} image to any conv or pool after it.
//
// Layout: for each layer with parameters, in order, "layer<i>/weights" then
// "layer<i>/bias" (zeros), where i indexes the hidden layers followed by the
// output layer (pool layers take an index but own no tensors). Dense
// weights are {in, out} row-major (element (f, u) at f * out + u), fan_in =
// in, fan_out = out. Conv weights are {out_channels, in_channels, k, k},
// fan_in = in_channels * k * k, fan_out = out_channels * k * k. Hidden
// weights use their LayerSpec's init; the output layer's use Xavier uniform.
//
// Each batch is split into threads() chunks, each with its own activations
// and gradient, and the chunks' results are added in chunk order, as
// batch_chunks.h describes: results depend on threads() but not on how many
// OpenMP threads actually run. All buffers are sized at construction for
// max_batch: no allocation of its own per call. Not thread-safe: one caller
// at a time per instance.
#ifndef DESCENT_COMMON_MODEL_NETWORK_H_
#define DESCENT_COMMON_MODEL_NETWORK_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/aligned_floats.h"
#include "common/model/layers.h"
#include "common/model/model.h"
#include "common/model/param_layout.h"
#include "common/partition.h"

namespace descent {

// One hidden layer. Each kind reads the fields marked for it and ignores
// the rest, except that a pool rejects padding and an activation.
struct LayerSpec {
  enum Kind { kDense, kConv2D, kMaxPool2D };
  Kind kind = kDense;
  int units = 0;         // dense: output width, >= 1
  int out_channels = 0;  // conv: >= 1
  int kernel = 0;        // conv / pool: square kernel size, >= 1
  int stride = 1;        // conv / pool: >= 1
  int padding = 0;       // conv: zero padding on each side; pool: must be 0
  // Dense / conv: applied after the layer; pool: must be kNone.
  Activation activation = Activation::kNone;
  InitRule init = InitRule::kHeNormal;  // dense / conv weights
};

// The shape of one example; it holds channels * height * width features.
struct InputShape {
  int channels = 1;
  int height = 1;
  int width = 1;
};

class Network : public Model {
 public:
  // `layers` are the hidden layers; Create appends the output layer. Batches
  // hold up to `max_batch` examples and run on `threads` threads (<= 0: one
  // per processor; never more than max_batch). Returns INVALID_ARGUMENT,
  // naming the offending layer's index, for a layer whose fields are out of
  // range or whose window does not fit its (padded) input; and for
  // non-positive input dimensions, num_classes or max_batch, or l2 < 0.
  // The output layer's weights start by `output_init`.
  static absl::StatusOr<std::unique_ptr<Network>> Create(
      InputShape input, std::vector<LayerSpec> layers, int num_classes,
      int max_batch, int threads, float l2 = 0,
      InitRule output_init = InitRule::kXavierUniform);

  const ParamLayout& layout() const override { return layout_; }
  // Mean cross-entropy over the batch plus the l2 penalty (Model's contract).
  float LossAndGradient(const float* params, const Batch& batch,
                        float* grad) override;
  // With one chunk and only dense layers, the update is fused into the
  // backward pass (kernels::DenseSgdBackward: no gradient is written);
  // otherwise Model's.
  float LossAndSgdStep(float* params, const Batch& batch, float lr,
                       float* grad) override;
  // Sums cross-entropy only: the l2 penalty is a training term.
  EvalResult Evaluate(const float* params, const Batch& examples) override;

  // The number of chunks (and at most of OpenMP threads) per batch.
  int threads() const { return threads_; }

  // A layer resolved against its input: its geometry and where its
  // parameters live in the flat vector (the layout's "layer<i>/weights" and
  // "layer<i>/bias" for layer i).
  struct Layer {
    LayerSpec spec;
    kernels::Window2D window;  // its input image and, for conv/pool, window
    int64_t in_size = 0;       // features per example, in and out
    int64_t out_size = 0;
    int64_t weights = -1;  // offset of the weights, -1 for a pool
    int64_t bias = -1;     // offset of the bias, -1 for a pool
  };

  // The hidden layers, then the output layer (dense, num_classes units, no
  // activation), as Forward runs them: what an exporter (cli/onnx_export.h)
  // translates.
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  // One chunk's scratch, written only by the thread that runs the chunk.
  // Its float buffers start on Eigen's alignment: where a buffer starts
  // decides which elements Eigen's vectorized loops peel off, and so the
  // rounding of reductions; a heap address varies from run to run.
  struct Chunk {
    std::vector<AlignedFloats> outputs;        // per layer: rows x out_size
    std::vector<std::vector<int32_t>> argmax;  // per pool layer, as outputs
    AlignedFloats columns;                     // im2col scratch
    AlignedFloats deltas[2];  // backward ping-pong: rows x widest input
    AlignedFloats gradient;   // layout_.size()
    double loss_sum = 0;
    int64_t correct = 0;
  };

  Network(std::vector<Layer> layers, ParamLayout layout, int max_batch,
          int threads, float l2);

  // Resolves `specs` (the hidden layers and the output layer) against
  // `input`, appending their tensors to *layout, or says which layer does
  // not fit.
  static absl::StatusOr<std::vector<Layer>> Resolve(
      InputShape input, const std::vector<LayerSpec>& specs,
      ParamLayout* layout);
  // Appends layer `index`'s weights and bias to *layout; records where.
  static void AddTensors(int index, Layer* layer, ParamLayout* layout);
  // Sizes chunks_ for max_batch_ examples split threads_ ways.
  void AllocateChunks();

  // Runs every layer on `rows` of the batch (row indices relative to
  // features/labels), leaving softmax probabilities in the last output, and
  // sets loss_sum and correct.
  void Forward(const float* params, const float* features,
               const int32_t* labels, IndexRange rows, Chunk* chunk) const;
  void LayerForward(int l, const float* params, const float* input,
                    int64_t rows, Chunk* chunk) const;
  // Turns Forward's softmax output of `rows` in place into scale *
  // d(loss sum)/d(logits) and returns it.
  float* LogitGradient(const int32_t* labels, IndexRange rows, float scale,
                       Chunk* chunk) const;
  // From Forward's outputs, writes scale * d(loss sum)/d(params) of `rows`
  // into `gradient` (layout().size() floats): the chunk's own, or with a
  // single chunk the caller's output, which then needs no summing.
  void Backward(const float* params, const float* features,
                const int32_t* labels, IndexRange rows, float scale,
                Chunk* chunk, float* gradient) const;
  // Given d_output, d(loss)/d(layer l's activated output), writes layer l's
  // parameter gradients into `gradient` and, unless d_input is null,
  // d(loss)/d(its input).
  void LayerBackward(int l, const float* params, const float* input,
                     float* d_output, int64_t rows, Chunk* chunk,
                     float* gradient, float* d_input) const;
  // Runs Forward on `n` rows, chunked over threads.
  void ForwardAll(const float* params, const float* features,
                  const int32_t* labels, int64_t n);
  // Adds the l2 penalty's gradient to grad; returns the penalty.
  double AddPenalty(const float* params, float* grad) const;

  // Constant after construction.
  const std::vector<Layer> layers_;
  const ParamLayout layout_;
  const int num_classes_;
  const int max_batch_;
  const int threads_;
  const float l2_;

  std::vector<Chunk> chunks_;  // threads_ of them
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_NETWORK_H_
