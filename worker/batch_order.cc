#include "worker/batch_order.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace descent {

BatchOrder::BatchOrder(int64_t num_examples, int batch_size, int epochs,
                       uint64_t seed, int32_t worker_id)
    : num_examples_(num_examples),
      batch_size_(batch_size > 0 ? batch_size : static_cast<int>(num_examples)),
      epochs_(epochs),
      seed_(seed),
      worker_id_(worker_id),
      steps_per_epoch_((num_examples + batch_size_ - 1) / batch_size_) {}

const std::vector<int64_t>& BatchOrder::Order(int epoch) {
  const int slot = epoch % 2;
  std::vector<int64_t>& order = orders_[slot];
  if (order_epochs_[slot] != epoch) {
    order.resize(num_examples_);
    std::iota(order.begin(), order.end(), 0);
    std::seed_seq seed{seed_, uint64_t(worker_id_), uint64_t(epoch)};
    std::mt19937_64 random(seed);
    std::shuffle(order.begin(), order.end(), random);
    order_epochs_[slot] = epoch;
  }
  return order;
}

BatchSpan BatchOrder::Batch(int64_t step) {
  const int epoch = static_cast<int>(step / steps_per_epoch_);
  const int64_t first = (step % steps_per_epoch_) * batch_size_;
  const std::vector<int64_t>& order = Order(epoch);
  return {order.data() + first, static_cast<int>(std::min<int64_t>(
                                    batch_size_, num_examples_ - first))};
}

}  // namespace descent
