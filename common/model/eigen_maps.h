// Eigen views over the dense models' flat float buffers: row-major matrices,
// row and column vectors and arrays mapped onto memory the caller owns, so
// a kernel computes in place with no copy and no allocation. For the
// model sources in this folder (and batch_chunks.h); not part of any public
// interface.
#ifndef DESCENT_COMMON_MODEL_EIGEN_MAPS_H_
#define DESCENT_COMMON_MODEL_EIGEN_MAPS_H_

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

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_EIGEN_MAPS_H_
