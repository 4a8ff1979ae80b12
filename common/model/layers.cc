#include "common/model/layers.h"

#include <algorithm>
#include <cmath>

#include "Eigen/Core"
#include "common/model/eigen_maps.h"
#include "glog/logging.h"

namespace descent {
namespace kernels {
namespace {

// The outputs o in [begin, end) of an axis of `outputs` positions whose
// input coordinate o * stride + offset lies inside [0, size).
struct AxisRange {
  int begin;
  int end;
};

AxisRange InsideRange(int size, int outputs, int offset, int stride) {
  const int begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int last = size - 1 - offset;  // o * stride <= last
  const int end = last < 0 ? 0 : std::min(outputs, last / stride + 1);
  return AxisRange{std::min(begin, end), end};
}

// Walks every im2col entry of `image` run by run: calls row(pixel, entry,
// count) for each run of `count` consecutive entries that read pixels
// pixel[0], pixel[stride], ... and pad(entry, count) for each run of
// entries in the padding, where entry points into `columns`. Shared by
// Im2Col and its adjoint Col2Im, so both see exactly the same layout.
template <typename Image, typename Columns, typename Row, typename Pad>
void ForEachPatchRun(const Window2D& w, Image* image, Columns* columns,
                     const Row& row, const Pad& pad) {
  const int oh = w.out_height();
  const int ow = w.out_width();
  for (int c = 0; c < w.channels; ++c) {
    Image* plane = image + int64_t{c} * w.height * w.width;
    for (int ky = 0; ky < w.kernel; ++ky) {
      const AxisRange ys = InsideRange(w.height, oh, ky - w.padding, w.stride);
      for (int kx = 0; kx < w.kernel; ++kx) {
        const AxisRange xs = InsideRange(w.width, ow, kx - w.padding, w.stride);
        for (int oy = 0; oy < oh; ++oy, columns += ow) {
          if (oy < ys.begin || oy >= ys.end) {
            pad(columns, ow);
            continue;
          }
          // Pixel of output column ox: first + ox * stride, for ox in xs.
          const int64_t first =
              int64_t{oy * w.stride + ky - w.padding} * w.width +
              (kx - w.padding);
          pad(columns, xs.begin);
          row(plane + (first + int64_t{xs.begin} * w.stride),
              columns + xs.begin, xs.end - xs.begin);
          pad(columns + xs.end, ow - xs.end);
        }
      }
    }
  }
}

// The max of one channel's windows, with argmax positions offset by `base`.
void MaxPoolPlane(const Window2D& w, const float* plane, int32_t base,
                  float* output, int32_t* argmax) {
  for (int oy = 0; oy < w.out_height(); ++oy) {
    for (int ox = 0; ox < w.out_width(); ++ox, ++output, ++argmax) {
      int32_t best = (oy * w.stride) * w.width + ox * w.stride;
      for (int ky = 0; ky < w.kernel; ++ky) {
        const int32_t row = (oy * w.stride + ky) * w.width + ox * w.stride;
        for (int kx = 0; kx < w.kernel; ++kx) {
          if (plane[row + kx] > plane[best]) best = row + kx;
        }
      }
      *output = plane[best];
      *argmax = base + best;
    }
  }
}

}  // namespace

// Runs of stride 1 (the common case) are plain copies and sums, which the
// compiler vectorizes; other strides gather.
void Im2Col(const Window2D& window, const float* image, float* columns) {
  const int stride = window.stride;
  ForEachPatchRun(
      window, image, columns,
      [stride](const float* pixel, float* entry, int count) {
        if (stride == 1) {
          std::copy_n(pixel, count, entry);
          return;
        }
        for (int k = 0; k < count; ++k) entry[k] = pixel[int64_t{k} * stride];
      },
      [](float* entry, int count) { std::fill_n(entry, count, 0.0f); });
}

void Col2Im(const Window2D& window, const float* columns, float* image) {
  std::fill(image, image + window.in_size(), 0.0f);
  const int stride = window.stride;
  ForEachPatchRun(
      window, image, columns,
      [stride](float* pixel, const float* entry, int count) {
        if (stride == 1) {
          for (int k = 0; k < count; ++k) pixel[k] += entry[k];
          return;
        }
        for (int k = 0; k < count; ++k) pixel[int64_t{k} * stride] += entry[k];
      },
      [](const float*, int) {});
}

void DenseForward(int64_t in, int64_t out, const float* weights,
                  const float* bias, const float* input, int64_t examples,
                  float* output) {
  MatrixMap y(output, examples, out);
  y.noalias() =
      ConstMatrixMap(input, examples, in) * ConstMatrixMap(weights, in, out);
  y.rowwise() += ConstRowVectorMap(bias, out);
}

void DenseBackward(int64_t in, int64_t out, const float* weights,
                   const float* input, const float* d_output, int64_t examples,
                   float* d_weights, float* d_bias, float* d_input) {
  ConstMatrixMap dy(d_output, examples, out);
  MatrixMap(d_weights, in, out).noalias() =
      ConstMatrixMap(input, examples, in).transpose() * dy;
  ColumnSums(d_output, examples, out, d_bias);
  if (d_input == nullptr) return;
  MatrixMap(d_input, examples, in).noalias() =
      dy * ConstMatrixMap(weights, in, out).transpose();
}

void DenseSgdBackward(int64_t in, int64_t out, float* weights, float* bias,
                      const float* input, const float* d_output,
                      int64_t examples, float lr, float l2, float* d_input) {
  ConstMatrixMap dy(d_output, examples, out);
  MatrixMap w(weights, in, out);
  if (d_input != nullptr) {
    MatrixMap(d_input, examples, in).noalias() = dy * w.transpose();
  }
  if (l2 != 0) w *= 1 - lr * l2;
  w.noalias() -= lr * (ConstMatrixMap(input, examples, in).transpose() * dy);
  for (int64_t j = 0; j < out; ++j) {  // ColumnSums' order, in place
    float sum = 0;
    for (int64_t i = 0; i < examples; ++i) sum += d_output[i * out + j];
    bias[j] -= lr * sum;
  }
}

void Conv2DForward(const Window2D& window, int out_channels,
                   const float* weights, const float* bias, const float* input,
                   int64_t examples, float* columns, float* output) {
  const int64_t positions = window.out_positions();
  ConstMatrixMap filters(weights, out_channels, window.patch_size());
  ConstMatrixMap patches(columns, window.patch_size(), positions);
  ConstColVectorMap b(bias, out_channels);
  for (int64_t e = 0; e < examples; ++e) {
    Im2Col(window, input + e * window.in_size(), columns);
    MatrixMap y(output + e * out_channels * positions, out_channels, positions);
    y.noalias() = filters * patches;
    y.colwise() += b;
  }
}

void Conv2DBackward(const Window2D& window, int out_channels,
                    const float* weights, const float* input,
                    const float* d_output, int64_t examples, float* columns,
                    float* d_weights, float* d_bias, float* d_input) {
  const int64_t positions = window.out_positions();
  ConstMatrixMap filters(weights, out_channels, window.patch_size());
  MatrixMap patches(columns, window.patch_size(), positions);
  MatrixMap dw(d_weights, out_channels, window.patch_size());
  ColVectorMap db(d_bias, out_channels);
  dw.setZero();
  db.setZero();
  for (int64_t e = 0; e < examples; ++e) {
    ConstMatrixMap dy(d_output + e * out_channels * positions, out_channels,
                      positions);
    Im2Col(window, input + e * window.in_size(), columns);
    dw.noalias() += dy * patches.transpose();
    db += dy.rowwise().sum();
    if (d_input == nullptr) continue;
    patches.noalias() = filters.transpose() * dy;  // d(columns)
    Col2Im(window, columns, d_input + e * window.in_size());
  }
}

void MaxPoolForward(const Window2D& window, const float* input,
                    int64_t examples, float* output, int32_t* argmax) {
  const int64_t plane_in = int64_t{window.height} * window.width;
  const int64_t plane_out = window.out_positions();
  for (int64_t e = 0; e < examples; ++e) {
    for (int c = 0; c < window.channels; ++c) {
      const int64_t plane = e * window.channels + c;
      MaxPoolPlane(window, input + plane * plane_in,
                   static_cast<int32_t>(c * plane_in),
                   output + plane * plane_out, argmax + plane * plane_out);
    }
  }
}

void MaxPoolBackward(const Window2D& window, const int32_t* argmax,
                     const float* d_output, int64_t examples, float* d_input) {
  const int64_t in_size = window.in_size();
  const int64_t out_size = window.channels * window.out_positions();
  std::fill(d_input, d_input + examples * in_size, 0.0f);
  for (int64_t e = 0; e < examples; ++e) {
    float* d_image = d_input + e * in_size;
    for (int64_t i = e * out_size; i < (e + 1) * out_size; ++i) {
      d_image[argmax[i]] += d_output[i];
    }
  }
}

void ActivationForward(Activation activation, int64_t n, float* values) {
  ArrayMap a(values, n);
  switch (activation) {
    case Activation::kNone:
      return;
    case Activation::kRelu:
      a = a.max(0.0f);
      return;
    case Activation::kTanh:
      a = a.tanh();
      return;
    case Activation::kSigmoid:
      a = a.logistic();
      return;
  }
  LOG(FATAL) << "unknown activation " << static_cast<int>(activation);
}

void ActivationBackward(Activation activation, int64_t n, const float* outputs,
                        float* d) {
  ConstArrayMap y(outputs, n);
  ArrayMap g(d, n);
  switch (activation) {
    case Activation::kNone:
      return;
    case Activation::kRelu:
      g = (y > 0.0f).select(g, 0.0f);
      return;
    case Activation::kTanh:
      g *= 1.0f - y.square();
      return;
    case Activation::kSigmoid:
      g *= y * (1.0f - y);
      return;
  }
  LOG(FATAL) << "unknown activation " << static_cast<int>(activation);
}

double SoftmaxCrossEntropy(int classes, int label, float* logits,
                           bool* correct) {
  RowVectorMap row(logits, classes);
  Eigen::Index argmax = 0;
  const float max = row.maxCoeff(&argmax);
  *correct = argmax == label;
  row.array() -= max;  // exp() below stays <= 1: no overflow
  const float label_logit = row[label];
  row = row.array().exp().matrix();
  const double sum = row.sum();
  row /= static_cast<float>(sum);
  return std::log(sum) - label_logit;
}

}  // namespace kernels
}  // namespace descent
