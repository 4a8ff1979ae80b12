// SparseStepKernel: a batch's entries become sorted unique keys and slots
// into them; Compute reads the rows the previous push fetched for those
// keys; a push carries this batch's row gradients and fetches the next
// batch's rows. DenseStepKernel: the batch's examples are copied together.
#include "worker/step_kernel.h"

#include <cmath>
#include <random>
#include <vector>

#include "common/federated/client_privacy.h"
#include "common/model/softmax_regression.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

// Records what it is given; the row gradient of slot s is s + 1.
class RecordingSparseModel final : public SparseModel {
 public:
  RecordingSparseModel() { table_.row_width = 1; }
  const SparseTableSpec& table() const override { return table_; }
  const ParamLayout& dense_layout() const override { return layout_; }
  float LossAndGradient(const float* /*dense*/, const float* rows,
                        int64_t num_rows, const SparseBatch& batch,
                        float* /*dense_grad*/, float* row_grad) override {
    seen_rows.assign(rows, rows + num_rows);
    seen_slots.assign(batch.slots, batch.slots + batch.row_offsets[batch.size]);
    seen_labels.assign(batch.labels, batch.labels + batch.size);
    for (int64_t r = 0; r < num_rows; ++r) row_grad[r] = r + 1.0f;
    return 0.25f;
  }
  EvalResult Evaluate(const float*, const float*, int64_t, const SparseBatch&,
                      float*) override {
    return {};
  }

  std::vector<float> seen_rows;
  std::vector<int32_t> seen_slots;
  std::vector<int32_t> seen_labels;

 private:
  SparseTableSpec table_;
  ParamLayout layout_;
};

// Example i has keys {i + 10, 5}; label i % 2.
SparseDataset ThreeExamples() {
  SparseDataset data;
  data.num_examples = 3;
  data.num_features = 20;
  data.num_classes = 2;
  for (int64_t i = 0; i < 3; ++i) {
    data.indices.push_back(i + 10);
    data.indices.push_back(5);
    data.values.push_back(1);
    data.values.push_back(2);
    data.row_offsets.push_back(data.indices.size());
    data.labels.push_back(i % 2);
  }
  return data;
}

TEST(SparseStepKernelTest, GathersKeysAndCarriesRowsBetweenPushes) {
  const SparseDataset data = ThreeExamples();
  RecordingSparseModel model;
  auto kernel = SparseStepKernel(&model, &data);
  ASSERT_TRUE(kernel->has_rows());
  const std::vector<int64_t> first = {2, 0}, second = {1};
  kernel->SetNext({first.data(), 2});
  const PsClient::Rows* pull = kernel->PullRows();
  ASSERT_NE(pull, nullptr);
  EXPECT_EQ(*pull->pull_keys, (std::vector<uint64_t>{5, 10, 12}));
  // The first pull's rows land where the first Compute reads them.
  pull->pulled[0] = 50, pull->pulled[1] = 100, pull->pulled[2] = 120;
  EXPECT_EQ(kernel->Compute(nullptr, nullptr), 0.25f);
  EXPECT_EQ(model.seen_rows, (std::vector<float>{50, 100, 120}));
  // Entries: example 2 = {12, 5}, example 0 = {10, 5}, as slots.
  EXPECT_EQ(model.seen_slots, (std::vector<int32_t>{2, 0, 1, 0}));
  EXPECT_EQ(model.seen_labels, (std::vector<int32_t>{0, 0}));
  kernel->SetNext({second.data(), 1});
  const PsClient::Rows* push = kernel->PushRows();
  EXPECT_EQ(*push->push_keys, (std::vector<uint64_t>{5, 10, 12}));
  EXPECT_EQ(std::vector<float>(push->push_grads, push->push_grads + 3),
            (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(*push->pull_keys, (std::vector<uint64_t>{5, 11}));
  const GradientSpan grad = kernel->RowGradient();
  EXPECT_EQ(grad.size, 3);
  // After the last batch there is nothing to fetch.
  push->pulled[0] = 7, push->pulled[1] = 8;
  kernel->Compute(nullptr, nullptr);
  EXPECT_EQ(model.seen_rows, (std::vector<float>{7, 8}));
  kernel->SetNext({});
  EXPECT_TRUE(kernel->PushRows()->pull_keys->empty());
}

// A "model" whose loss is the first feature of its batch's first example
// and whose gradient is the batch's targets.
class FirstFeatureModel final : public Model {
 public:
  FirstFeatureModel() { layout_.Add({"w", {2}, InitRule::kZeros, 1, 1}); }
  const ParamLayout& layout() const override { return layout_; }
  float LossAndGradient(const float*, const Batch& batch,
                        float* grad) override {
    for (int i = 0; i < 2; ++i) grad[i] = i < batch.size ? batch.targets[i] : 0;
    return batch.features[0];
  }
  EvalResult Evaluate(const float*, const Batch&) override { return {}; }

 private:
  ParamLayout layout_;
};

TEST(DenseStepKernelTest, CopiesTheBatchsExamplesTogether) {
  Dataset data;
  data.num_examples = 3;
  data.num_features = 1;
  data.features = {10, 20, 30};
  data.targets = {1, 2, 3};
  FirstFeatureModel model;
  auto kernel = DenseStepKernel(&model, &data, 2);
  EXPECT_FALSE(kernel->has_rows());
  EXPECT_EQ(kernel->PushRows(), nullptr);
  const std::vector<int64_t> batch = {2, 0};
  kernel->SetNext({batch.data(), 2});
  std::vector<float> grad(2);
  EXPECT_EQ(kernel->Compute(nullptr, grad.data()), 30);
  EXPECT_EQ(grad, (std::vector<float>{3, 1}));
}

// DP-SGD: the gradient is the mean of the per-example gradients, each
// clipped to the norm on its own (not the batch's mean clipped).
TEST(DenseStepKernelTest, WithAnExampleClipNormClipsEachExample) {
  constexpr int kFeatures = 5, kClasses = 3, kExamples = 6;
  Dataset data;
  data.num_examples = kExamples;
  data.num_features = kFeatures;
  data.num_classes = kClasses;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 3);
  for (int i = 0; i < kExamples * kFeatures; ++i)
    data.features.push_back(normal(rng));
  for (int i = 0; i < kExamples; ++i) data.labels.push_back(i % kClasses);
  SoftmaxRegression model(kFeatures, kClasses, kExamples, 1);
  const int64_t p = model.layout().size();
  std::vector<float> params(p);
  for (float& w : params) w = normal(rng);
  const float clip = 0.5f;
  std::vector<float> expected(p, 0), one(p);
  double loss = 0;
  int clipped = 0;
  for (int i = 0; i < kExamples; ++i) {
    loss += model.LossAndGradient(
        params.data(), Batch{&data.features[i * kFeatures], &data.labels[i], 1},
        one.data());
    clipped += ClipToNorm(clip, absl::MakeSpan(one)) > clip;
    for (int64_t j = 0; j < p; ++j) expected[j] += one[j] / kExamples;
  }
  ASSERT_GT(clipped, 2);  // the clip binds for most examples
  auto kernel = DenseStepKernel(&model, &data, kExamples, clip);
  const std::vector<int64_t> batch = {0, 1, 2, 3, 4, 5};
  kernel->SetNext({batch.data(), kExamples});
  std::vector<float> grad(p);
  EXPECT_NEAR(kernel->Compute(params.data(), grad.data()), loss / kExamples,
              1e-5);
  double norm = 0;
  for (int64_t j = 0; j < p; ++j) {
    EXPECT_NEAR(grad[j], expected[j], 1e-5) << j;
    norm += static_cast<double>(grad[j]) * grad[j];
  }
  EXPECT_LE(std::sqrt(norm), clip + 1e-5);
  // Without it, the plain mean gradient, longer than the clip.
  auto plain = DenseStepKernel(&model, &data, kExamples);
  plain->SetNext({batch.data(), kExamples});
  std::vector<float> mean(p);
  plain->Compute(params.data(), mean.data());
  double plain_norm = 0;
  for (float g : mean) plain_norm += static_cast<double>(g) * g;
  EXPECT_GT(std::sqrt(plain_norm), clip);
}

}  // namespace
}  // namespace descent
