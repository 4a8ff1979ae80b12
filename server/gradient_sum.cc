#include "server/gradient_sum.h"

#include <algorithm>
#include <cstring>

#include "common/wire.h"

namespace descent {

GradientSum::GradientSum(int64_t begin, int64_t dense_size, int row_width)
    : begin_(begin), row_width_(row_width), dense_(dense_size, 0.0f) {}

void GradientSum::Add(const v1::PushRequest& request, double weight) {
  const auto w = static_cast<float>(weight);
  const v1::DenseSlice& slice = request.gradient();
  const int64_t n = FloatCount(slice.values());
  float* out = dense_.data() + (static_cast<int64_t>(slice.offset()) - begin_);
  for (int64_t i = 0; i < n; ++i) {
    float value;
    std::memcpy(&value, slice.values().data() + i * sizeof(float),
                sizeof(float));
    out[i] += w * value;
  }
  const v1::SparseRows& rows = request.row_gradients();
  for (int k = 0; k < rows.keys_size(); ++k) {
    auto [it, created] = slot_of_.try_emplace(
        rows.keys(k), static_cast<int64_t>(slot_of_.size()));
    if (created) rows_.resize(rows_.size() + row_width_, 0.0f);
    float* row = rows_.data() + it->second * row_width_;
    for (int c = 0; c < row_width_; ++c) {
      float value;
      std::memcpy(
          &value,
          rows.values().data() +
              (static_cast<int64_t>(k) * row_width_ + c) * sizeof(float),
          sizeof(float));
      row[c] += w * value;
    }
  }
  ++contributors_;
  weight_ += weight;
}

void GradientSum::TakeMean() {
  const auto scale = static_cast<float>(1.0 / weight_);
  for (float& value : dense_) value *= scale;
  for (float& value : rows_) value *= scale;
  keys_.clear();
  for (const auto& [key, slot] : slot_of_) keys_.push_back(key);
  std::sort(keys_.begin(), keys_.end());
}

const float* GradientSum::row(size_t i) const {
  return rows_.data() + slot_of_.at(keys_[i]) * row_width_;
}

void GradientSum::Clear() {
  std::fill(dense_.begin(), dense_.end(), 0.0f);
  slot_of_.clear();
  rows_.clear();
  keys_.clear();
  contributors_ = 0;
  weight_ = 0;
}

int64_t GradientSum::memory_bytes() const {
  // A flat_hash_map slot holds its pair, plus one control byte.
  const size_t map_bytes =
      slot_of_.capacity() * (sizeof(decltype(slot_of_)::value_type) + 1);
  return static_cast<int64_t>((dense_.capacity() + rows_.capacity()) *
                                  sizeof(float) +
                              keys_.capacity() * sizeof(uint64_t) + map_bytes);
}

}  // namespace descent
