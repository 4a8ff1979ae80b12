// BatchOrder: which examples of a worker's shard each training step takes.
// Every epoch visits the shard in its own shuffled order, a pure function of
// (seed, worker id, epoch), in consecutive batches of batch_size; the last
// batch of an epoch may be smaller. batch_size 0 means the whole shard
// (full-batch gradient descent). Steps are numbered from 0 across epochs.
// Thread-compatible: Batch() keeps the orders of at most two epochs.
#ifndef DESCENT_WORKER_BATCH_ORDER_H_
#define DESCENT_WORKER_BATCH_ORDER_H_

#include <algorithm>
#include <cstdint>
#include <vector>

namespace descent {

// Examples of one batch: indices into the shard, in batch order.
struct BatchSpan {
  const int64_t* examples = nullptr;
  int size = 0;
};

class BatchOrder {
 public:
  // num_examples >= 1, epochs >= 0, batch_size >= 0.
  BatchOrder(int64_t num_examples, int batch_size, int epochs, uint64_t seed,
             int32_t worker_id);

  // The examples per full batch (batch_size, or the shard's size for 0).
  int batch_size() const { return batch_size_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t total_steps() const { return steps_per_epoch_ * epochs_; }

  // Examples the steps before `step` take (0 <= step <= total_steps()).
  int64_t ExamplesBefore(int64_t step) const {
    const int64_t in_epoch = step % steps_per_epoch_;
    return step / steps_per_epoch_ * num_examples_ +
           std::min<int64_t>(in_epoch * batch_size_, num_examples_);
  }

  // Step `step`'s examples (0 <= step < total_steps()). The span stays
  // valid until Batch() is called for a step two or more epochs away.
  BatchSpan Batch(int64_t step);

 private:
  // The shuffled shard of `epoch`, kept in one of two slots.
  const std::vector<int64_t>& Order(int epoch);

  const int64_t num_examples_;
  const int batch_size_;
  const int epochs_;
  const uint64_t seed_;
  const int32_t worker_id_;
  const int64_t steps_per_epoch_;
  // Two epochs' orders, so the batch after the last of an epoch can be
  // read while the last is still in use.
  std::vector<int64_t> orders_[2];
  int order_epochs_[2] = {-1, -1};
};

}  // namespace descent

#endif  // DESCENT_WORKER_BATCH_ORDER_H_
