// GradientSum: the weighted mean of a BSP step's pushes, the same bits
// whatever order they arrive in.
#include "server/shard/gradient_sum.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/wire.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

v1::PushRequest Push(int worker, const std::vector<float>& dense, uint64_t key,
                     float row) {
  v1::PushRequest request;
  request.mutable_header()->set_worker_id(worker);
  request.mutable_gradient()->set_offset(0);
  EncodeFloats(dense.data(), dense.size(),
               request.mutable_gradient()->mutable_values());
  auto* rows = request.mutable_row_gradients();
  rows->add_keys(key);
  rows->set_width(1);
  EncodeFloats(&row, 1, rows->mutable_values());
  return request;
}

// The mean's dense values and rows, as bytes.
std::vector<float> Mean(const std::vector<v1::PushRequest>& pushes,
                        const std::vector<int>& order) {
  GradientSum sum(0, 3, 1);
  for (int i : order) sum.Add(pushes[i], 1 + i);
  sum.TakeMean();
  std::vector<float> out(sum.dense(), sum.dense() + 3);
  for (size_t i = 0; i < sum.keys().size(); ++i) {
    out.push_back(static_cast<float>(sum.keys()[i]));
    out.push_back(*sum.row(i));
  }
  return out;
}

TEST(GradientSumOrderTest, ArrivalOrderDoesNotChangeTheBits) {
  // Values whose float sums depend on the order of addition.
  const std::vector<v1::PushRequest> pushes = {
      Push(0, {1e8f, 0.1f, 3.3333333f}, 7, 1e8f),
      Push(1, {-1e8f, 0.2f, 1.1111111f}, 7, -1e8f),
      Push(2, {0.7f, 0.3f, 7.7777777f}, 9, 0.7f)};
  const std::vector<float> expected = Mean(pushes, {0, 1, 2});
  std::vector<int> order = {0, 1, 2};
  while (std::next_permutation(order.begin(), order.end())) {
    const std::vector<float> got = Mean(pushes, order);
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_EQ(
        std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0)
        << "order " << order[0] << order[1] << order[2];
  }
  // The weighted mean itself: (1 * 1e8 + 2 * -1e8 + 3 * 0.7) / 6 in float.
  GradientSum sum(0, 3, 1);
  for (int i : {2, 0, 1}) sum.Add(pushes[i], 1 + i);
  sum.TakeMean();
  EXPECT_EQ(sum.contributors(), 3);
  EXPECT_NEAR(sum.dense()[1], (0.1 + 0.4 + 0.9) / 6, 1e-6);
  ASSERT_EQ(sum.keys(), (std::vector<uint64_t>{7, 9}));
}

}  // namespace
}  // namespace descent
