#include "common/model/linear_kernels.h"

#include <omp.h>

#include <algorithm>

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
    // Keeps Eigen single-threaded inside the region; this ICV is per thread
    // of the region and leaks nowhere.
    omp_set_num_threads(1);
    for (int c = omp_get_thread_num(); c < chunks; c += omp_get_num_threads()) {
      fn(c, EvenPart(n, chunks, c));
    }
  }
}

}  // namespace

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
  SumGradients(grad);
  double loss_sum = 0;
  for (const Chunk& chunk : chunks_) loss_sum += chunk.loss_sum;
  return static_cast<float>(loss_sum / batch_size + AddPenalty(params, grad));
}

EvalResult LinearKernels::Evaluate(const float* params, const float* features,
                                   int64_t n, ExampleLoss loss) {
  CHECK_GE(n, 0);
  EvalResult result;
  result.count = n;
  for (int64_t start = 0; start < n; start += max_batch_) {
    const float* rows_start = features + start * num_features_;
    const int64_t rows = std::min<int64_t>(max_batch_, n - start);
    ForEachChunk(threads_, rows, [&](int c, IndexRange chunk_rows) {
      Forward(params, rows_start, start, chunk_rows, loss, &chunks_[c]);
    });
    for (const Chunk& chunk : chunks_) {
      result.loss_sum += chunk.loss_sum;
      result.correct += chunk.correct;
    }
  }
  return result;
}

void LinearKernels::Forward(const float* params, const float* features,
                            int64_t first, IndexRange rows, ExampleLoss loss,
                            Chunk* chunk) const {
  const int64_t m = rows.size();
  ConstMatrixMap x(features + rows.begin * num_features_, m, num_features_);
  ConstMatrixMap w(params, num_features_, num_outputs_);
  ConstVectorMap b(params + num_weights_, num_outputs_);
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
  VectorMap db(chunk->gradient.data() + num_weights_, num_outputs_);
  if (m == 0) {
    dw.setZero();
    db.setZero();
    return;
  }
  MatrixMap d(chunk->scores.data(), m, num_outputs_);
  d *= scale;
  ConstMatrixMap x(features + rows.begin * num_features_, m, num_features_);
  dw.noalias() = x.transpose() * d;
  db = d.colwise().sum();
}

void LinearKernels::SumGradients(float* grad) {
  ForEachChunk(threads_, num_params(), [&](int, IndexRange span) {
    VectorMap out(grad + span.begin, span.size());
    out = ConstVectorMap(chunks_[0].gradient.data() + span.begin, span.size());
    for (size_t c = 1; c < chunks_.size(); ++c) {
      out +=
          ConstVectorMap(chunks_[c].gradient.data() + span.begin, span.size());
    }
  });
}

double LinearKernels::AddPenalty(const float* params, float* grad) const {
  if (l2_ == 0 && l1_ == 0) return 0;
  ConstVectorMap w(params, num_weights_);
  VectorMap dw(grad, num_weights_);
  dw += l2_ * w + l1_ * w.cwiseSign();
  return 0.5 * l2_ * w.cast<double>().squaredNorm() +
         l1_ * w.cast<double>().lpNorm<1>();
}

}  // namespace descent
