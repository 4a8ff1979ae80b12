// GradientSum: the example-weighted sum of the gradients pushed for one BSP
// step, dense slice and sparse rows alike, so that the step is applied once
// from their mean: sum_w n_w g_w / sum_w n_w, which is the gradient of the
// mean loss over the union of the workers' batches. A row a worker's batch
// did not touch counts as a zero gradient from that worker.
//
// The sum is taken in worker-id order, whatever order the pushes arrive
// in, so that a BSP step is the same floating-point result every run (with
// FMA contraction even a + b depends on which product was rounded first).
// Add keeps a pointer to each push, which must stay valid until Clear():
// the shard holds every BSP push's answer, and so its request, until the
// step is applied.
//
// Buffers for the dense slice are sized once; rows grow as keys arrive and
// keep their capacity across steps. Not thread-safe (the shard's mutex
// guards it).
#ifndef DESCENT_SERVER_SHARD_GRADIENT_SUM_H_
#define DESCENT_SERVER_SHARD_GRADIENT_SUM_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "common/federated/robust_aggregation.h"
#include "descent/v1/ps.pb.h"

namespace descent {

class GradientSum {
 public:
  // A sum over a dense slice of `dense_size` values starting at global index
  // `begin`, and rows of `row_width` values.
  GradientSum(int64_t begin, int64_t dense_size, int row_width);

  // Adds `weight` times the push's gradient (validated by the shard), from
  // its header's worker id.
  void Add(const v1::PushRequest& request, double weight);

  int contributors() const { return static_cast<int>(pushes_.size()); }
  // The total weight added since Clear() (0: only empty pushes).
  double weight() const { return weight_; }
  // Whether `worker` has a gradient in the sum.
  bool Contains(int32_t worker) const;
  // The workers of the gradients added since Clear(), in order of arrival
  // (of worker after TakeMean).
  std::vector<int32_t> workers() const;

  // Sums the pushes in worker-id order and divides by the total weight. Then
  // dense() holds the mean slice and row(i) the mean row of keys()[i], keys
  // ascending.
  void TakeMean();
  // Robust aggregation instead: each push holds PushRequest.clients
  // updates of the whole slice; dense() becomes Aggregate of them all, in
  // worker-id order (no rows).
  void TakeAggregate(const RobustOptions& options);
  // Secure aggregation instead: dense() becomes sum / weight (the round's
  // unmasked sum of the whole slice), weight() `weight`; no rows.
  void SetMean(absl::Span<const float> sum, double weight);
  const float* dense() const { return dense_.data(); }
  float* mutable_dense() { return dense_.data(); }
  int64_t dense_size() const { return static_cast<int64_t>(dense_.size()); }
  const std::vector<uint64_t>& keys() const { return keys_; }
  const float* row(size_t i) const;

  // Empties the sum for the next step.
  void Clear();

  // Bytes of the buffers it holds (their capacity), for memory metrics.
  int64_t memory_bytes() const;

 private:
  const int64_t begin_;
  const int row_width_;
  struct Push {
    int32_t worker;
    double weight;
    const v1::PushRequest* request;
  };
  std::vector<Push> pushes_;
  double weight_ = 0;
  std::vector<float> dense_;
  // Rows in first-touch order; keys_ is sorted by TakeMean.
  absl::flat_hash_map<uint64_t, int64_t> slot_of_;
  std::vector<float> rows_;
  std::vector<uint64_t> keys_;
  // Copies of pushed values whose buffer is not float-aligned (FloatsOf).
  std::vector<float> scratch_;
  // TakeAggregate's copies of every client's update.
  std::vector<float> updates_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_SHARD_GRADIENT_SUM_H_
