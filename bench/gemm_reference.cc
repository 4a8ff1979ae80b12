#include "bench/gemm_reference.h"

#include <omp.h>

#include <random>
#include <utility>

#include "Eigen/Core"
#include "common/partition.h"

namespace descent {
namespace bench {
namespace {

using RowMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;

std::vector<float> RandomBuffer(int64_t size, std::mt19937* random) {
  std::uniform_real_distribution<float> uniform(-0.5f, 0.5f);
  std::vector<float> values(size);
  for (float& v : values) v = uniform(*random);
  return values;
}

}  // namespace

GemmReference::GemmReference(std::vector<GemmLayer> plan, int batch,
                             int threads)
    : plan_(std::move(plan)), threads_(threads), chunks_(threads) {
  std::mt19937 random(1);
  for (const GemmLayer& g : plan_) {
    weights_.push_back(RandomBuffer(g.conv ? g.m * g.k : g.k * g.n, &random));
  }
  for (int c = 0; c < threads_; ++c) {
    Chunk& chunk = chunks_[c];
    chunk.rows = EvenPart(batch, threads_, c).size();
    for (size_t l = 0; l < plan_.size(); ++l) {
      const GemmLayer& g = plan_[l];
      const int64_t out = chunk.rows * (g.conv ? g.m * g.n : g.n);
      LayerBuffers b;
      b.input = RandomBuffer(g.conv ? g.k * g.n : chunk.rows * g.k, &random);
      b.output.resize(out);
      b.d_output = RandomBuffer(out, &random);
      b.d_weights.resize(weights_[l].size());
      if (!g.conv) b.d_input.resize(chunk.rows * g.k);
      chunk.layers.push_back(std::move(b));
    }
  }
}

void GemmReference::Step() {
#pragma omp parallel num_threads(threads_)
  {
    omp_set_num_threads(1);  // as Network: Eigen single-threaded per chunk
    for (int c = omp_get_thread_num(); c < threads_;
         c += omp_get_num_threads()) {
      Chunk* chunk = &chunks_[c];
      for (size_t l = 0; l < plan_.size(); ++l) Forward(l, chunk);
      for (size_t l = plan_.size(); l-- > 0;) Backward(l, chunk);
    }
  }
}

void GemmReference::Forward(size_t l, Chunk* chunk) const {
  const GemmLayer& g = plan_[l];
  LayerBuffers& b = chunk->layers[l];
  if (!g.conv) {
    MatrixMap(b.output.data(), chunk->rows, g.n).noalias() =
        ConstMatrixMap(b.input.data(), chunk->rows, g.k) *
        ConstMatrixMap(weights_[l].data(), g.k, g.n);
    return;
  }
  ConstMatrixMap filters(weights_[l].data(), g.m, g.k);
  ConstMatrixMap columns(b.input.data(), g.k, g.n);
  for (int64_t e = 0; e < chunk->rows; ++e) {
    MatrixMap(b.output.data() + e * g.m * g.n, g.m, g.n).noalias() =
        filters * columns;
  }
}

void GemmReference::Backward(size_t l, Chunk* chunk) const {
  const GemmLayer& g = plan_[l];
  LayerBuffers& b = chunk->layers[l];
  if (!g.conv) {
    ConstMatrixMap dy(b.d_output.data(), chunk->rows, g.n);
    MatrixMap(b.d_weights.data(), g.k, g.n).noalias() =
        ConstMatrixMap(b.input.data(), chunk->rows, g.k).transpose() * dy;
    if (!g.input_gradient) return;
    MatrixMap(b.d_input.data(), chunk->rows, g.k).noalias() =
        dy * ConstMatrixMap(weights_[l].data(), g.k, g.n).transpose();
    return;
  }
  ConstMatrixMap filters(weights_[l].data(), g.m, g.k);
  MatrixMap columns(b.input.data(), g.k, g.n);
  MatrixMap dw(b.d_weights.data(), g.m, g.k);
  dw.setZero();
  for (int64_t e = 0; e < chunk->rows; ++e) {
    ConstMatrixMap dy(b.d_output.data() + e * g.m * g.n, g.m, g.n);
    dw.noalias() += dy * columns.transpose();
    // Network writes dC over the columns, then col2im's them; so does this
    // (the next example's dW then reads dC: same shapes, same cost).
    if (g.input_gradient) columns.noalias() = filters.transpose() * dy;
  }
}

}  // namespace bench
}  // namespace descent
