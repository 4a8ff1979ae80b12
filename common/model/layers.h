// The forward and backward kernels behind Network: dense, 2-D convolution,
// 2-D max-pooling, elementwise activations and softmax cross-entropy, each
// over a run of `examples` consecutive examples.
//
// Every kernel works on caller-owned raw buffers and allocates nothing of its
// own (Eigen's GEMM may pack on the heap past EIGEN_STACK_ALLOCATION_LIMIT).
// Images are CHW, one example after another; an example's C*H*W values are
// contiguous, so a dense layer reads a conv output as its flattened row.
// Matrices are row-major. Backward kernels overwrite, never accumulate into,
// their outputs; a null d_input skips the input gradient (a first layer needs
// none). Output buffers must not alias inputs.
//
// The kernels run single-threaded in Eigen's current setting and keep no
// state: calls on disjoint output buffers may run concurrently. They CHECK
// nothing on the hot path; Network validates shapes once, at Create.
#ifndef DESCENT_COMMON_MODEL_LAYERS_H_
#define DESCENT_COMMON_MODEL_LAYERS_H_

#include <cstdint>

namespace descent {

// Elementwise nonlinearity applied after a dense or conv layer.
enum class Activation { kNone, kRelu, kTanh, kSigmoid };

namespace kernels {

// A square window sliding over a CHW image (the input of a conv or pool).
// Output size per axis: (size + 2 * padding - kernel) / stride + 1, rounded
// down; zero padding pads each side.
struct Window2D {
  int channels = 1;
  int height = 1;
  int width = 1;
  int kernel = 1;
  int stride = 1;
  int padding = 0;

  int out_height() const {
    return (height + 2 * padding - kernel) / stride + 1;
  }
  int out_width() const { return (width + 2 * padding - kernel) / stride + 1; }
  int64_t in_size() const { return int64_t{channels} * height * width; }
  // Rows and columns of the im2col matrix: one row per (channel, ky, kx),
  // one column per output position.
  int64_t patch_size() const { return int64_t{channels} * kernel * kernel; }
  int64_t out_positions() const { return int64_t{out_height()} * out_width(); }
};

// columns (patch_size x out_positions) = the patches of one image; entries
// that fall in the padding are 0.
void Im2Col(const Window2D& window, const float* image, float* columns);

// The adjoint of Im2Col: image (in_size) = the sum of each column entry into
// the pixel it was read from; padding entries are dropped.
void Col2Im(const Window2D& window, const float* columns, float* image);

// output (examples x out) = input (examples x in) * weights (in x out) + bias.
void DenseForward(int64_t in, int64_t out, const float* weights,
                  const float* bias, const float* input, int64_t examples,
                  float* output);

// Given d_output (examples x out): d_weights (in x out) = input^T d_output,
// d_bias (out) = column sums of d_output, d_input = d_output weights^T.
void DenseBackward(int64_t in, int64_t out, const float* weights,
                   const float* input, const float* d_output, int64_t examples,
                   float* d_weights, float* d_bias, float* d_input);

// DenseBackward fused with a plain SGD step of rate lr and L2 weight
// penalty l2 (the gradient l2 * weights): d_input (unless null) from the
// weights as they were, then weights = (1 - lr l2) weights - lr input^T
// d_output and bias -= lr * column sums of d_output, with no gradient
// buffer written.
void DenseSgdBackward(int64_t in, int64_t out, float* weights, float* bias,
                      const float* input, const float* d_output,
                      int64_t examples, float lr, float l2, float* d_input);

// Cross-correlation of each input image with out_channels filters: weights
// {out_channels, channels, kernel, kernel}, bias {out_channels}, output
// {out_channels, out_height, out_width} per example. `columns` is scratch of
// window.patch_size() * window.out_positions() floats.
void Conv2DForward(const Window2D& window, int out_channels,
                   const float* weights, const float* bias, const float* input,
                   int64_t examples, float* columns, float* output);

// Gradients of Conv2DForward's output sum weighted by d_output: d_weights
// and d_bias shaped like weights and bias, d_input like input. Same scratch.
void Conv2DBackward(const Window2D& window, int out_channels,
                    const float* weights, const float* input,
                    const float* d_output, int64_t examples, float* columns,
                    float* d_weights, float* d_bias, float* d_input);

// Max over each window (no padding: window.padding must be 0), output
// {channels, out_height, out_width} per example. argmax (same size as output)
// receives the position within its example's input image of each maximum,
// the first one on a tie.
void MaxPoolForward(const Window2D& window, const float* input,
                    int64_t examples, float* output, int32_t* argmax);

// d_input = d_output routed back to the argmax positions (summed where
// windows overlap), zero elsewhere.
void MaxPoolBackward(const Window2D& window, const int32_t* argmax,
                     const float* d_output, int64_t examples, float* d_input);

// values[i] = f(values[i]) for the n values.
void ActivationForward(Activation activation, int64_t n, float* values);

// d[i] *= f'(x_i), computed from the activation's outputs y_i = f(x_i)
// (ReLU: y > 0; tanh: 1 - y^2; sigmoid: y (1 - y)).
void ActivationBackward(Activation activation, int64_t n, const float* outputs,
                        float* d);

// Overwrites one example's `classes` logits with softmax probabilities
// (computed stably, after subtracting the max). Returns its cross-entropy
// -log softmax(logits)[label] and sets *correct if label is the argmax (the
// first on a tie). 0 <= label < classes is the caller's to check.
double SoftmaxCrossEntropy(int classes, int label, float* logits,
                           bool* correct);

}  // namespace kernels
}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_LAYERS_H_
