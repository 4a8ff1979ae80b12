#include "worker/step_kernel.h"

#include <algorithm>
#include <cstring>

#include "common/federated/client_privacy.h"

namespace descent {
namespace {

class DenseKernel final : public StepKernel {
 public:
  DenseKernel(Model* model, const Dataset* data, int max_batch,
              float example_clip_norm)
      : model_(model),
        data_(data),
        example_clip_norm_(example_clip_norm),
        features_(static_cast<size_t>(max_batch) * data->num_features),
        labels_(max_batch),
        targets_(max_batch),
        example_grad_(example_clip_norm > 0 ? model->layout().size() : 0) {}

  int64_t num_examples() const override { return data_->num_examples; }
  void SetData(const EpochData& data) override { data_ = data.dense; }
  const ParamLayout& layout() const override { return model_->layout(); }
  bool has_rows() const override { return false; }

  void SetNext(BatchSpan batch) override { next_ = batch; }

  float Compute(const float* params, float* grad) override {
    const int64_t features = data_->num_features;
    const int n = next_.size;
    for (int i = 0; i < n; ++i) {
      const int64_t example = next_.examples[i];
      std::memcpy(&features_[i * features], data_->example(example),
                  features * sizeof(float));
      if (!data_->labels.empty()) labels_[i] = data_->labels[example];
      if (!data_->targets.empty()) targets_[i] = data_->targets[example];
    }
    if (example_clip_norm_ <= 0) {
      return model_->LossAndGradient(
          params, Batch{features_.data(), labels_.data(), n, targets_.data()},
          grad);
    }
    // DP-SGD: each example's gradient on its own, clipped, then their mean.
    const int64_t p = static_cast<int64_t>(example_grad_.size());
    std::fill(grad, grad + p, 0.0f);
    double loss = 0;
    for (int i = 0; i < n; ++i) {
      loss += model_->LossAndGradient(
          params, Batch{&features_[i * features], &labels_[i], 1, &targets_[i]},
          example_grad_.data());
      ClipToNorm(example_clip_norm_, absl::MakeSpan(example_grad_));
      for (int64_t j = 0; j < p; ++j) grad[j] += example_grad_[j];
    }
    if (n > 0) {
      const float inverse = 1.0f / static_cast<float>(n);
      for (int64_t j = 0; j < p; ++j) grad[j] *= inverse;
    }
    return n > 0 ? static_cast<float>(loss / n) : 0.0f;
  }

  GradientSpan RowGradient() override { return {nullptr, 0}; }
  const PsClient::Rows* PushRows() override { return nullptr; }
  const PsClient::Rows* PullRows() override { return nullptr; }

 private:
  Model* const model_;
  const Dataset* data_;
  const float example_clip_norm_;
  BatchSpan next_;
  std::vector<float> features_;
  std::vector<int32_t> labels_;
  std::vector<float> targets_;
  std::vector<float> example_grad_;  // DP-SGD: one example's gradient
};

// A sparse mini-batch: its keys, its entries mapped to slots, and room for
// their rows and row gradients.
struct SparseBuffers {
  std::vector<uint64_t> keys;        // sorted, unique
  std::vector<uint64_t> entry_keys;  // per entry, before mapping to slots
  std::vector<int64_t> row_offsets;
  std::vector<int32_t> slots;
  std::vector<float> values;
  std::vector<int32_t> labels;
  std::vector<float> targets;
  std::vector<float> rows;       // keys.size() x row width
  std::vector<float> row_grads;  // the same
};

class SparseKernel final : public StepKernel {
 public:
  SparseKernel(SparseModel* model, const SparseDataset* data)
      : model_(model), data_(data), width_(model->table().row_width) {}

  int64_t num_examples() const override { return data_->num_examples; }
  void SetData(const EpochData& data) override { data_ = data.sparse; }
  const ParamLayout& layout() const override { return model_->dense_layout(); }
  bool has_rows() const override { return true; }

  void SetNext(BatchSpan batch) override {
    Gather(batch, &buffers_[1 - current_]);
  }

  float Compute(const float* params, float* grad) override {
    current_ = 1 - current_;
    SparseBuffers& b = buffers_[current_];
    SparseBatch batch;
    batch.size = static_cast<int>(b.row_offsets.size()) - 1;
    batch.row_offsets = b.row_offsets.data();
    batch.slots = b.slots.data();
    batch.values = b.values.data();
    batch.labels = b.labels.empty() ? nullptr : b.labels.data();
    batch.targets = b.targets.empty() ? nullptr : b.targets.data();
    return model_->LossAndGradient(params, b.rows.data(),
                                   static_cast<int64_t>(b.keys.size()), batch,
                                   grad, b.row_grads.data());
  }

  GradientSpan RowGradient() override {
    std::vector<float>& g = buffers_[current_].row_grads;
    return {g.data(), static_cast<int64_t>(g.size())};
  }

  const PsClient::Rows* PushRows() override {
    SparseBuffers& current = buffers_[current_];
    SparseBuffers& next = buffers_[1 - current_];
    rows_.width = width_;
    rows_.push_keys = &current.keys;
    rows_.push_grads = current.row_grads.data();
    rows_.pull_keys = &next.keys;
    rows_.pulled = next.rows.data();
    return &rows_;
  }

  const PsClient::Rows* PullRows() override {
    SparseBuffers& next = buffers_[1 - current_];
    rows_ = PsClient::Rows();
    rows_.width = width_;
    rows_.pull_keys = &next.keys;
    rows_.pulled = next.rows.data();
    return &rows_;
  }

 private:
  // Fills *b with `batch`'s examples.
  void Gather(BatchSpan batch, SparseBuffers* b) const {
    const SparseDataset& data = *data_;
    b->entry_keys.clear();
    b->values.clear();
    b->labels.clear();
    b->targets.clear();
    b->row_offsets.assign(1, 0);
    for (int i = 0; i < batch.size; ++i) {
      const int64_t example = batch.examples[i];
      for (int64_t k = data.row_offsets[example];
           k < data.row_offsets[example + 1]; ++k) {
        b->entry_keys.push_back(static_cast<uint64_t>(data.indices[k]));
        b->values.push_back(data.values[k]);
      }
      b->row_offsets.push_back(static_cast<int64_t>(b->entry_keys.size()));
      if (!data.labels.empty()) b->labels.push_back(data.labels[example]);
      if (!data.targets.empty()) b->targets.push_back(data.targets[example]);
    }
    b->keys = b->entry_keys;
    std::sort(b->keys.begin(), b->keys.end());
    b->keys.erase(std::unique(b->keys.begin(), b->keys.end()), b->keys.end());
    b->slots.resize(b->entry_keys.size());
    for (size_t k = 0; k < b->entry_keys.size(); ++k) {
      b->slots[k] = static_cast<int32_t>(
          std::lower_bound(b->keys.begin(), b->keys.end(), b->entry_keys[k]) -
          b->keys.begin());
    }
    b->rows.resize(b->keys.size() * width_);
    b->row_grads.resize(b->keys.size() * width_);
  }

  SparseModel* const model_;
  const SparseDataset* data_;
  const int width_;
  // The current batch and the next; Compute swaps them.
  SparseBuffers buffers_[2];
  int current_ = 1;  // the first SetNext fills buffers_[0]
  PsClient::Rows rows_;
};

}  // namespace

std::unique_ptr<StepKernel> DenseStepKernel(Model* model, const Dataset* data,
                                            int max_batch,
                                            float example_clip_norm) {
  return std::make_unique<DenseKernel>(model, data, max_batch,
                                       example_clip_norm);
}

std::unique_ptr<StepKernel> SparseStepKernel(SparseModel* model,
                                             const SparseDataset* data) {
  return std::make_unique<SparseKernel>(model, data);
}

}  // namespace descent
