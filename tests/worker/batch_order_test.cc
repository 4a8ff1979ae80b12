// BatchOrder: every epoch visits each example once, in the shuffle fixed by
// (seed, worker id, epoch); batch 0 is the whole shard.
#include "worker/batch_order.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace descent {
namespace {

std::vector<int64_t> Examples(BatchSpan span) {
  return std::vector<int64_t>(span.examples, span.examples + span.size);
}

TEST(BatchOrderTest, EachEpochVisitsEveryExampleOnceInBatches) {
  BatchOrder order(10, 4, 3, /*seed=*/5, /*worker_id=*/1);
  EXPECT_EQ(order.steps_per_epoch(), 3);
  EXPECT_EQ(order.total_steps(), 9);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> seen;
    for (int b = 0; b < 3; ++b) {
      const std::vector<int64_t> batch = Examples(order.Batch(epoch * 3 + b));
      EXPECT_EQ(batch.size(), b < 2 ? 4u : 2u);
      seen.insert(seen.end(), batch.begin(), batch.end());
    }
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> all(10);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all) << "epoch " << epoch;
  }
}

TEST(BatchOrderTest, TheShuffleIsSeedWorkerAndEpoch) {
  BatchOrder order(7, 7, 2, 3, 2);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> expected(7);
    std::iota(expected.begin(), expected.end(), 0);
    std::seed_seq seed{uint64_t{3}, uint64_t{2}, uint64_t(epoch)};
    std::mt19937_64 random(seed);
    std::shuffle(expected.begin(), expected.end(), random);
    EXPECT_EQ(Examples(order.Batch(epoch)), expected);
  }
  // Another worker gets another order.
  BatchOrder other(7, 7, 1, 3, 0);
  EXPECT_NE(Examples(other.Batch(0)), Examples(order.Batch(0)));
}

TEST(BatchOrderTest, BatchZeroIsTheWholeShard) {
  BatchOrder order(5, 0, 2, 1, 0);
  EXPECT_EQ(order.batch_size(), 5);
  EXPECT_EQ(order.total_steps(), 2);
  EXPECT_EQ(order.Batch(1).size, 5);
}

TEST(BatchOrderTest, TheNextEpochsFirstBatchLeavesTheLastOneValid) {
  BatchOrder order(6, 4, 2, 9, 0);
  const BatchSpan last = order.Batch(1);
  const std::vector<int64_t> copy = Examples(last);
  order.Batch(2);  // epoch 1, as a sparse worker gathers it ahead
  EXPECT_EQ(Examples(last), copy);
}

}  // namespace
}  // namespace descent
