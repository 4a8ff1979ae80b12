#include "common/model/softmax_regression.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "Eigen/Core"
#include "glog/logging.h"

namespace descent {
namespace {

using RowMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;
using VectorMap = Eigen::Map<Eigen::RowVectorXf>;
using ConstVectorMap = Eigen::Map<const Eigen::RowVectorXf>;

// Runs fn(chunk, rows) for each of `chunks` even chunks of [0, n), on up to
// `chunks` OpenMP threads. Chunk c always covers the same rows, whatever
// the number of threads OpenMP grants.
template <typename Fn>
void ForEachChunk(int chunks, int64_t n, const Fn& fn) {
#pragma omp parallel num_threads(chunks)
  {
    // Eigen parallelizes a big product unless it runs inside a team of more
    // than one thread. This ICV is per thread of this region: it keeps
    // Eigen single-threaded here even with chunks == 1, and leaks nowhere.
    omp_set_num_threads(1);
    for (int c = omp_get_thread_num(); c < chunks; c += omp_get_num_threads()) {
      fn(c, EvenPart(n, chunks, c));
    }
  }
}

// Turns a row of logits into softmax probabilities in place. Returns the
// example's cross-entropy, -log softmax(logits)[label], and sets *correct if
// the label is the argmax (the first on a tie).
double SoftmaxInPlace(int label, VectorMap row, bool* correct) {
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

ParamLayout SoftmaxLayout(int64_t features, int classes, InitRule init) {
  ParamLayout layout;
  layout.Add(
      TensorSpec{"weights", {features, classes}, init, features, classes});
  layout.Add(TensorSpec{"bias", {classes}, InitRule::kZeros, 0, 0});
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
  SumGradients(grad);
  double loss_sum = 0;
  for (const Chunk& chunk : chunks_) loss_sum += chunk.loss_sum;
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
  const int64_t n = examples.size;
  const float* features = examples.features;
  const int32_t* labels = examples.labels;
  CHECK_GE(n, 0);
  EvalResult result;
  result.count = n;
  for (int64_t start = 0; start < n; start += max_batch_) {
    const int64_t rows = std::min<int64_t>(max_batch_, n - start);
    ForwardAll(params, features + start * num_features_, labels + start, rows);
    for (const Chunk& chunk : chunks_) {
      result.loss_sum += chunk.loss_sum;
      result.correct += chunk.correct;
    }
  }
  return result;
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
  ConstVectorMap b(params + w.size(), num_classes_);
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
        SoftmaxInPlace(label, VectorMap(&z(i, 0), num_classes_), &correct);
    chunk->correct += correct;
  }
}

void SoftmaxRegression::Backward(const float* features, const int32_t* labels,
                                 IndexRange rows, float scale,
                                 Chunk* chunk) const {
  const int64_t m = rows.size();
  MatrixMap dw(chunk->gradient.data(), num_features_, num_classes_);
  VectorMap db(chunk->gradient.data() + dw.size(), num_classes_);
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
  db = d.colwise().sum();
}

void SoftmaxRegression::SumGradients(float* grad) {
  ForEachChunk(threads_, layout_.size(), [&](int, IndexRange span) {
    VectorMap out(grad + span.begin, span.size());
    out = ConstVectorMap(chunks_[0].gradient.data() + span.begin, span.size());
    for (size_t c = 1; c < chunks_.size(); ++c) {
      out +=
          ConstVectorMap(chunks_[c].gradient.data() + span.begin, span.size());
    }
  });
}

}  // namespace descent
