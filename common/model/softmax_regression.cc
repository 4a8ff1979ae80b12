#include "common/model/softmax_regression.h"

#include <omp.h>

#include <algorithm>

#include "Eigen/Core"
#include "common/model/batch_chunks.h"
#include "common/model/eigen_maps.h"
#include "common/model/layers.h"
#include "glog/logging.h"

namespace descent {
namespace {

ParamLayout SoftmaxLayout(int64_t features, int classes, InitRule init) {
  ParamLayout layout;
  layout.Add(
      TensorSpec{"weights", {features, classes}, init, features, classes});
  layout.Add(BiasSpec("bias", classes, init, features));
  return layout;
}

}  // namespace

SoftmaxRegression::SoftmaxRegression(int64_t num_features, int num_classes,
                                     int max_batch, int threads,
                                     InitRule weight_init, float l2)
    : num_features_(num_features),
      num_classes_(num_classes),
      max_batch_(max_batch),
      threads_(std::min(threads > 0 ? threads : omp_get_num_procs(),
                        std::max(max_batch, 1))),
      l2_(l2),
      layout_(SoftmaxLayout(num_features, num_classes, weight_init)),
      chunks_(threads_) {
  CHECK_GE(num_features, 1);
  CHECK_GE(num_classes, 1);
  CHECK_GE(max_batch, 1);
  CHECK_GE(l2, 0);
  const int64_t chunk_rows = (max_batch_ + threads_ - 1) / threads_;
  for (Chunk& chunk : chunks_) {
    chunk.logits.resize(chunk_rows * num_classes_);
    chunk.gradient.resize(layout_.size());
  }
}

float SoftmaxRegression::LossAndGradient(const float* params,
                                         const Batch& batch, float* grad) {
  CHECK(batch.size >= 1 && batch.size <= max_batch_)
      << "batch of " << batch.size << " (max " << max_batch_ << ")";
  const float scale = 1.0f / static_cast<float>(batch.size);
  ForEachChunk(threads_, batch.size, [&](int c, IndexRange rows) {
    Forward(params, batch.features, batch.labels, rows, &chunks_[c]);
    Backward(batch.features, batch.labels, rows, scale, &chunks_[c]);
  });
  SumChunkGradients(chunks_, layout_.size(), grad);
  const double loss_sum = SumChunkLosses(chunks_);
  double penalty = 0;
  if (l2_ > 0) {
    const int64_t weights = num_features_ * num_classes_;
    for (int64_t i = 0; i < weights; ++i) {
      penalty += static_cast<double>(params[i]) * params[i];
      grad[i] += l2_ * params[i];
    }
  }
  return static_cast<float>(loss_sum / batch.size + 0.5 * l2_ * penalty);
}

EvalResult SoftmaxRegression::Evaluate(const float* params,
                                       const Batch& examples) {
  CHECK_GE(examples.size, 0);
  return EvaluateBySlices(
      examples.size, max_batch_, chunks_, [&](int64_t start, int64_t rows) {
        ForwardAll(params, examples.features + start * num_features_,
                   examples.labels + start, rows);
      });
}

void SoftmaxRegression::ForwardAll(const float* params, const float* features,
                                   const int32_t* labels, int64_t n) {
  ForEachChunk(threads_, n, [&](int c, IndexRange rows) {
    Forward(params, features, labels, rows, &chunks_[c]);
  });
}

void SoftmaxRegression::Forward(const float* params, const float* features,
                                const int32_t* labels, IndexRange rows,
                                Chunk* chunk) const {
  const int64_t m = rows.size();
  ConstMatrixMap x(features + rows.begin * num_features_, m, num_features_);
  ConstMatrixMap w(params, num_features_, num_classes_);
  ConstRowVectorMap b(params + w.size(), num_classes_);
  MatrixMap z(chunk->logits.data(), m, num_classes_);
  z.noalias() = x * w;
  z.rowwise() += b;
  chunk->loss_sum = 0;
  chunk->correct = 0;
  for (int64_t i = 0; i < m; ++i) {
    const int32_t label = labels[rows.begin + i];
    CHECK(label >= 0 && label < num_classes_)
        << "label " << label << " of example " << rows.begin + i;
    bool correct = false;
    chunk->loss_sum +=
        kernels::SoftmaxCrossEntropy(num_classes_, label, &z(i, 0), &correct);
    chunk->correct += correct;
  }
}

void SoftmaxRegression::Backward(const float* features, const int32_t* labels,
                                 IndexRange rows, float scale,
                                 Chunk* chunk) const {
  const int64_t m = rows.size();
  MatrixMap dw(chunk->gradient.data(), num_features_, num_classes_);
  RowVectorMap db(chunk->gradient.data() + dw.size(), num_classes_);
  if (m == 0) {
    dw.setZero();
    db.setZero();
    return;
  }
  // d(loss)/d(logits) = softmax - onehot, scaled to the batch mean.
  MatrixMap d(chunk->logits.data(), m, num_classes_);
  for (int64_t i = 0; i < m; ++i) d(i, labels[rows.begin + i]) -= 1.0f;
  d *= scale;
  ConstMatrixMap x(features + rows.begin * num_features_, m, num_features_);
  dw.noalias() = x.transpose() * d;
  ColumnSums(d.data(), m, num_classes_, db.data());
}

}  // namespace descent
