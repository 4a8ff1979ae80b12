#include "common/model/linear_kernels.h"

#include <omp.h>

#include <algorithm>

#include "Eigen/Core"
#include "common/model/batch_chunks.h"
#include "common/model/eigen_maps.h"
#include "glog/logging.h"

namespace descent {

LinearKernels::LinearKernels(int64_t num_features, int num_outputs,
                             int max_batch, int threads, float l2, float l1)
    : num_features_(num_features),
      num_outputs_(num_outputs),
      num_weights_(num_features * num_outputs),
      max_batch_(max_batch),
      threads_(std::min(threads > 0 ? threads : omp_get_num_procs(),
                        std::max(max_batch, 1))),
      l2_(l2),
      l1_(l1),
      chunks_(threads_) {
  CHECK_GE(num_features, 1);
  CHECK_GE(num_outputs, 1);
  CHECK_GE(max_batch, 1);
  CHECK_GE(l2, 0.0f);
  CHECK_GE(l1, 0.0f);
  const int64_t chunk_rows = (max_batch_ + threads_ - 1) / threads_;
  for (Chunk& chunk : chunks_) {
    chunk.scores.resize(chunk_rows * num_outputs_);
    chunk.gradient.resize(num_params());
  }
}

float LinearKernels::LossAndGradient(const float* params, const float* features,
                                     int batch_size, ExampleLoss loss,
                                     float* grad) {
  CHECK(batch_size >= 1 && batch_size <= max_batch_)
      << "batch of " << batch_size << " (max " << max_batch_ << ")";
  const float scale = 1.0f / static_cast<float>(batch_size);
  ForEachChunk(threads_, batch_size, [&](int c, IndexRange rows) {
    Forward(params, features, 0, rows, loss, &chunks_[c]);
    Backward(features, rows, scale, &chunks_[c]);
  });
  SumChunkGradients(chunks_, num_params(), grad);
  return static_cast<float>(SumChunkLosses(chunks_) / batch_size +
                            AddPenalty(params, grad));
}

EvalResult LinearKernels::Evaluate(const float* params, const float* features,
                                   int64_t n, ExampleLoss loss) {
  CHECK_GE(n, 0);
  return EvaluateBySlices(
      n, max_batch_, chunks_, [&](int64_t start, int64_t rows) {
        const float* slice = features + start * num_features_;
        ForEachChunk(threads_, rows, [&](int c, IndexRange chunk_rows) {
          Forward(params, slice, start, chunk_rows, loss, &chunks_[c]);
        });
      });
}

void LinearKernels::Forward(const float* params, const float* features,
                            int64_t first, IndexRange rows, ExampleLoss loss,
                            Chunk* chunk) const {
  const int64_t m = rows.size();
  ConstMatrixMap x(features + rows.begin * num_features_, m, num_features_);
  ConstMatrixMap w(params, num_features_, num_outputs_);
  ConstRowVectorMap b(params + num_weights_, num_outputs_);
  MatrixMap z(chunk->scores.data(), m, num_outputs_);
  z.noalias() = x * w;
  z.rowwise() += b;
  chunk->loss_sum = 0;
  chunk->correct = 0;
  for (int64_t i = 0; i < m; ++i) {
    bool correct = false;
    chunk->loss_sum += loss(first + rows.begin + i, &z(i, 0), &correct);
    chunk->correct += correct;
  }
}

void LinearKernels::Backward(const float* features, IndexRange rows,
                             float scale, Chunk* chunk) const {
  const int64_t m = rows.size();
  MatrixMap dw(chunk->gradient.data(), num_features_, num_outputs_);
  RowVectorMap db(chunk->gradient.data() + num_weights_, num_outputs_);
  if (m == 0) {
    dw.setZero();
    db.setZero();
    return;
  }
  MatrixMap d(chunk->scores.data(), m, num_outputs_);
  d *= scale;
  ConstMatrixMap x(features + rows.begin * num_features_, m, num_features_);
  dw.noalias() = x.transpose() * d;
  ColumnSums(d.data(), m, num_outputs_, db.data());
}

double LinearKernels::AddPenalty(const float* params, float* grad) const {
  if (l2_ == 0 && l1_ == 0) return 0;
  ConstRowVectorMap w(params, num_weights_);
  RowVectorMap dw(grad, num_weights_);
  dw += l2_ * w + l1_ * w.cwiseSign();
  return 0.5 * l2_ * SumOf(params, num_weights_, /*squares=*/true) +
         l1_ * SumOf(params, num_weights_, /*squares=*/false);
}

}  // namespace descent
