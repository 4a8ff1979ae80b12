// ParameterShard's measurements for the server metrics: the time and the
// norms of each update (PushRecord), the slice's norm and the bytes held.
#include <algorithm>
#include <cmath>

#include "common/optim/gradient_norms.h"
#include "server/shard/parameter_shard.h"

namespace descent {

absl::Time ParameterShard::BeginUpdateLocked(int64_t position, int64_t n,
                                             bool* measure) {
  const absl::Time now = options_.clock();
  *measure =
      options_.norm_every > 0 && (version_ % options_.norm_every == 0 ||
                                  now - norms_measured_at_ >= absl::Seconds(1));
  if (!*measure) return now;
  std::copy_n(params_.data() + position, n, before_.data());
  return options_.clock();
}

void ParameterShard::EndUpdateLocked(absl::Time start, int64_t position,
                                     int64_t n, bool measure,
                                     PushRecord* record) {
  const absl::Time end = options_.clock();
  record->applied = true;
  record->apply_seconds = absl::ToDoubleSeconds(end - start);
  if (!measure) return;
  const float* after = params_.data() + position;
  double change = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(after[i]) - before_[i];
    change += d * d;
  }
  record->norms_measured = true;
  record->update_norm = std::sqrt(change);
  record->parameter_norm = ParameterNormLocked();
  norms_measured_at_ = end;
}

double ParameterShard::ParameterNormLocked() const {
  return L2Norm(params_.data(), static_cast<int64_t>(params_.size()));
}

double ParameterShard::parameter_norm() const {
  absl::MutexLock lock(&mu_);
  return ParameterNormLocked();
}

int64_t ParameterShard::MemoryBytesLocked() const {
  const size_t floats = params_.capacity() + scratch_.capacity() +
                        before_.capacity() + table_.capacity();
  // A flat_hash_map slot holds its pair, plus one control byte.
  const size_t index =
      row_of_.capacity() * (sizeof(decltype(row_of_)::value_type) + 1);
  int64_t bytes = static_cast<int64_t>(floats * sizeof(float) + index);
  bytes += optimizer_->state_bytes() + row_optimizer_->state_bytes();
  bytes += undo_.bytes() + row_undo_.bytes() +
           static_cast<int64_t>(row_scratch_.capacity() * sizeof(float));
  if (sum_ != nullptr) bytes += sum_->memory_bytes();
  if (snapshot_.has_value()) {
    const ShardState& copy = *snapshot_;
    size_t held =
        (copy.params.capacity() + copy.rows.capacity()) * sizeof(float) +
        copy.keys.capacity() * sizeof(uint64_t);
    for (const auto* tensors : {&copy.optimizer, &copy.row_optimizer}) {
      for (const NamedTensor& t : *tensors) {
        held += t.f32.capacity() * sizeof(float) +
                t.u64.capacity() * sizeof(uint64_t);
      }
    }
    bytes += static_cast<int64_t>(held);
  }
  return bytes;
}

int64_t ParameterShard::memory_bytes() const {
  absl::MutexLock lock(&mu_);
  return MemoryBytesLocked();
}

}  // namespace descent
