#include "server/shard/gradient_sum.h"

#include <algorithm>
#include <cstring>

#include "common/wire.h"

namespace descent {

GradientSum::GradientSum(int64_t begin, int64_t dense_size, int row_width)
    : begin_(begin), row_width_(row_width), dense_(dense_size, 0.0f) {}

bool GradientSum::Contains(int32_t worker) const {
  return std::any_of(
      pushes_.begin(), pushes_.end(),
      [worker](const Push& push) { return push.worker == worker; });
}

void GradientSum::Add(const v1::PushRequest& request, double weight) {
  pushes_.push_back({request.header().worker_id(), weight, &request});
  weight_ += weight;
}

std::vector<int32_t> GradientSum::workers() const {
  std::vector<int32_t> workers;
  for (const Push& push : pushes_) workers.push_back(push.worker);
  return workers;
}

void GradientSum::TakeMean() {
  std::stable_sort(
      pushes_.begin(), pushes_.end(),
      [](const Push& a, const Push& b) { return a.worker < b.worker; });
  for (const Push& push : pushes_) {
    const auto w = static_cast<float>(push.weight);
    const v1::DenseSlice& slice = push.request->gradient();
    const int64_t n = FloatCount(slice.values());
    const float* in = FloatsOf(slice.values(), &scratch_);
    float* out =
        dense_.data() + (static_cast<int64_t>(slice.offset()) - begin_);
    for (int64_t i = 0; i < n; ++i) out[i] += w * in[i];
    const v1::SparseRows& rows = push.request->row_gradients();
    const float* row_in = FloatsOf(rows.values(), &scratch_);
    for (int k = 0; k < rows.keys_size(); ++k) {
      auto [it, created] = slot_of_.try_emplace(
          rows.keys(k), static_cast<int64_t>(slot_of_.size()));
      if (created) rows_.resize(rows_.size() + row_width_, 0.0f);
      float* row = rows_.data() + it->second * row_width_;
      const float* g = row_in + static_cast<int64_t>(k) * row_width_;
      for (int c = 0; c < row_width_; ++c) row[c] += w * g[c];
    }
  }
  const auto scale = static_cast<float>(1.0 / weight_);
  for (float& value : dense_) value *= scale;
  for (float& value : rows_) value *= scale;
  keys_.clear();
  for (const auto& [key, slot] : slot_of_) keys_.push_back(key);
  std::sort(keys_.begin(), keys_.end());
}

void GradientSum::TakeAggregate(const RobustOptions& options) {
  std::stable_sort(
      pushes_.begin(), pushes_.end(),
      [](const Push& a, const Push& b) { return a.worker < b.worker; });
  const int64_t d = dense_size();
  int64_t clients = 0;
  for (const Push& push : pushes_) {
    if (push.weight > 0) clients += push.request->clients();
  }
  updates_.resize(static_cast<size_t>(clients) * d);
  std::vector<const float*> updates;
  for (const Push& push : pushes_) {
    if (push.weight == 0) continue;  // an empty push
    const std::string& values = push.request->gradient().values();
    float* to = updates_.data() + updates.size() * d;
    std::memcpy(to, values.data(), values.size());
    for (int c = 0; c < push.request->clients(); ++c) {
      updates.push_back(to + c * d);
    }
  }
  Aggregate(options, updates, d, dense_.data());
}

const float* GradientSum::row(size_t i) const {
  return rows_.data() + slot_of_.at(keys_[i]) * row_width_;
}

void GradientSum::Clear() {
  std::fill(dense_.begin(), dense_.end(), 0.0f);
  slot_of_.clear();
  rows_.clear();
  keys_.clear();
  pushes_.clear();
  weight_ = 0;
}

int64_t GradientSum::memory_bytes() const {
  // A flat_hash_map slot holds its pair, plus one control byte.
  const size_t map_bytes =
      slot_of_.capacity() * (sizeof(decltype(slot_of_)::value_type) + 1);
  return static_cast<int64_t>((dense_.capacity() + rows_.capacity()) *
                                  sizeof(float) +
                              keys_.capacity() * sizeof(uint64_t) + map_bytes +
                              pushes_.capacity() * sizeof(Push));
}

void GradientSum::SetMean(absl::Span<const float> sum, double weight) {
  for (size_t i = 0; i < dense_.size() && i < sum.size(); ++i) {
    dense_[i] = static_cast<float>(sum[i] / weight);
  }
  weight_ = weight;
}

}  // namespace descent
