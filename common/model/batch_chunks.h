// How the dense models (LinearKernels, SoftmaxRegression, Network) split a
// batch over OpenMP threads and add up what the threads computed.
//
// Chunking: a batch of n rows is cut into `chunks` contiguous ranges, chunk
// c covering EvenPart(n, chunks, c) (the first n % chunks chunks one row
// longer; the last ones empty when n < chunks). A model fixes the chunk
// count at construction (its threads()) and keeps one Chunk of scratch per
// chunk, written only while that chunk runs. OpenMP may grant fewer threads
// than chunks; then a thread runs several chunks, but chunk c always covers
// the same rows.
//
// Reduction: what the chunks computed is added up in chunk order 0, 1, ...,
// never in the order threads finish: gradients by SumChunkGradients, losses
// by SumChunkLosses, evaluation sums by EvaluateBySlices. A result therefore
// depends on the chunk count but not on how many threads ran, and is
// bit-identical from run to run.
//
// Threads: inside each chunk Eigen runs single-threaded; the region's
// threads set their own OpenMP thread count to 1, which leaves the caller's
// setting alone. ForEachChunk calls fn concurrently for different chunks, so
// fn(c, rows) must write nothing but chunk c's scratch. These functions keep
// no state of their own.
//
// A Chunk, as the templates below read it, has a float vector `gradient`
// (AlignedFloats), `double loss_sum` and `int64_t correct`.
#ifndef DESCENT_COMMON_MODEL_BATCH_CHUNKS_H_
#define DESCENT_COMMON_MODEL_BATCH_CHUNKS_H_

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/model/eigen_maps.h"
#include "common/model/model.h"
#include "common/partition.h"

namespace descent {

// Calls fn(c, EvenPart(n, chunks, c)) once for every chunk c in
// [0, chunks), on up to `chunks` OpenMP threads, and returns when every call
// has. CHECK-fails (in EvenPart) unless chunks >= 1 and n >= 0.
template <typename Fn>
void ForEachChunk(int chunks, int64_t n, const Fn& fn) {
#pragma omp parallel num_threads(chunks)
  {
    // Eigen parallelizes a big product unless it runs inside a team of more
    // than one thread. This ICV is per thread of this region: it keeps Eigen
    // single-threaded here even with chunks == 1, and leaks nowhere.
    omp_set_num_threads(1);
    for (int c = omp_get_thread_num(); c < chunks; c += omp_get_num_threads()) {
      fn(c, EvenPart(n, chunks, c));
    }
  }
}

// Overwrites out[0, size) with the sum of every chunk's gradient[0, size),
// added in chunk order. The index range is itself split chunks.size() ways
// over threads with ForEachChunk. Each gradient holds at least size floats.
template <typename Chunk>
void SumChunkGradients(const std::vector<Chunk>& chunks, int64_t size,
                       float* out) {
  ForEachChunk(static_cast<int>(chunks.size()), size,
               [&](int, IndexRange span) {
                 RowVectorMap sum(out + span.begin, span.size());
                 sum = ConstRowVectorMap(chunks[0].gradient.data() + span.begin,
                                         span.size());
                 for (size_t c = 1; c < chunks.size(); ++c) {
                   sum += ConstRowVectorMap(
                       chunks[c].gradient.data() + span.begin, span.size());
                 }
               });
}

// The sum of every chunk's loss_sum, added in chunk order.
template <typename Chunk>
double SumChunkLosses(const std::vector<Chunk>& chunks) {
  double loss_sum = 0;
  for (const Chunk& chunk : chunks) loss_sum += chunk.loss_sum;
  return loss_sum;
}

// An Evaluate over n >= 0 examples, max_batch at a time: for each slice
// [start, start + rows) in order, calls forward_slice(start, rows), which
// must leave in each chunk the loss_sum and correct of its rows of the
// slice, then adds those to the result in chunk order. count is n.
template <typename Chunk, typename ForwardSlice>
EvalResult EvaluateBySlices(int64_t n, int max_batch,
                            const std::vector<Chunk>& chunks,
                            const ForwardSlice& forward_slice) {
  EvalResult result;
  result.count = n;
  for (int64_t start = 0; start < n; start += max_batch) {
    forward_slice(start, std::min<int64_t>(max_batch, n - start));
    for (const Chunk& chunk : chunks) {
      result.loss_sum += chunk.loss_sum;
      result.correct += chunk.correct;
    }
  }
  return result;
}

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_BATCH_CHUNKS_H_
