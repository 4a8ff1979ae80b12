// Eigen views over the dense models' flat float buffers: row-major matrices,
// row and column vectors and arrays mapped onto memory the caller owns, so
// a kernel computes in place with no copy and no allocation. For the
// model sources in this folder (and batch_chunks.h); not part of any public
// interface.
#ifndef DESCENT_COMMON_MODEL_EIGEN_MAPS_H_
#define DESCENT_COMMON_MODEL_EIGEN_MAPS_H_

#include <algorithm>
#include <cstdint>

#include "Eigen/Core"

namespace descent {

using RowMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;
using RowVectorMap = Eigen::Map<Eigen::RowVectorXf>;
using ConstRowVectorMap = Eigen::Map<const Eigen::RowVectorXf>;
using ColVectorMap = Eigen::Map<Eigen::VectorXf>;
using ConstColVectorMap = Eigen::Map<const Eigen::VectorXf>;
using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

// Reductions over a caller's buffer whose rounding does not depend on where
// the buffer lies. Eigen's vectorized reductions sum the elements before the
// first aligned packet in scalar code and the rest packet by packet, in
// another order, so over memory of a different alignment they give other
// bits, and heap addresses vary from run to run (aligned_floats.h).
//
// out[j] = the sum over rows i of m(i, j) (m row-major, rows x cols), in
// row order.
inline void ColumnSums(const float* m, int64_t rows, int64_t cols, float* out) {
  std::fill_n(out, cols, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = m + i * cols;
    for (int64_t j = 0; j < cols; ++j) out[j] += row[j];
  }
}

// The sum of x[i]^2 (squares = true) or of |x[i]| over n floats, in double:
// four partial sums by index mod 4, then added in order.
inline double SumOf(const float* x, int64_t n, bool squares) {
  double partial[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    partial[i % 4] += squares ? v * v : (v < 0 ? -v : v);
  }
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_EIGEN_MAPS_H_
