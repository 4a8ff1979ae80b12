#include "common/model/param_layout.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/hashed_random.h"
#include "glog/logging.h"

namespace descent {
namespace {

// A uniform double in the open interval (0, 1), a pure function of
// (seed, index, stream). Two streams per index feed Box-Muller.
double HashedUniform(uint64_t seed, int64_t index, uint64_t stream) {
  const uint64_t counter = (static_cast<uint64_t>(index) << 1) | stream;
  return UnitInterval(SplitMix64(SplitMix64(seed) ^ counter));
}

double HashedStandardNormal(uint64_t seed, int64_t index) {
  return BoxMuller(HashedUniform(seed, index, 0),
                   HashedUniform(seed, index, 1));
}

float ValueOf(const TensorSpec& spec, uint64_t seed, int64_t index) {
  switch (spec.init) {
    case InitRule::kZeros:
      return 0.0f;
    case InitRule::kXavierUniform: {
      const double a =
          std::sqrt(6.0 / static_cast<double>(spec.fan_in + spec.fan_out));
      return static_cast<float>(a *
                                (2.0 * HashedUniform(seed, index, 0) - 1.0));
    }
    case InitRule::kHeNormal:
      return static_cast<float>(
          std::sqrt(2.0 / static_cast<double>(spec.fan_in)) *
          HashedStandardNormal(seed, index));
    case InitRule::kNormal:
      return static_cast<float>(spec.stddev *
                                HashedStandardNormal(seed, index));
    case InitRule::kTorchDefault:
      return static_cast<float>((2.0 * HashedUniform(seed, index, 0) - 1.0) /
                                std::sqrt(static_cast<double>(spec.fan_in)));
  }
  LOG(FATAL) << "unknown init rule " << static_cast<int>(spec.init);
}

void CheckFans(const TensorSpec& spec) {
  if (spec.init == InitRule::kXavierUniform) {
    CHECK(spec.fan_in >= 0 && spec.fan_out >= 0 &&
          spec.fan_in + spec.fan_out > 0)
        << "tensor " << spec.name << ": Xavier init needs positive fans";
  }
  if (spec.init == InitRule::kHeNormal ||
      spec.init == InitRule::kTorchDefault) {
    CHECK_GT(spec.fan_in, 0)
        << "tensor " << spec.name << ": He and torch init need fan_in > 0";
  }
}

}  // namespace

TensorSpec BiasSpec(std::string name, int64_t size, InitRule weights,
                    int64_t fan_in) {
  if (weights != InitRule::kTorchDefault) {
    return TensorSpec{std::move(name), {size}, InitRule::kZeros, 0, 0};
  }
  return TensorSpec{std::move(name), {size}, weights, fan_in, 0};
}

void ParamLayout::Add(TensorSpec spec) {
  int64_t elements = 1;
  for (int64_t dim : spec.shape) {
    CHECK_GE(dim, 0) << "tensor " << spec.name << " has a negative dimension";
    elements *= dim;
  }
  CheckFans(spec);
  offsets_.push_back(offsets_.back() + elements);
  tensors_.push_back(std::move(spec));
}

int64_t ParamLayout::offset(size_t tensor) const {
  CHECK_LT(tensor, tensors_.size());
  return offsets_[tensor];
}

size_t ParamLayout::TensorOf(int64_t index) const {
  // The last tensor starting at or before `index`; empty tensors share their
  // start with the next one and are skipped by upper_bound.
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), index);
  return static_cast<size_t>(it - offsets_.begin()) - 1;
}

float ParamLayout::InitialValue(uint64_t seed, int64_t index) const {
  CHECK(index >= 0 && index < size())
      << "index " << index << " outside [0, " << size() << ")";
  return ValueOf(tensors_[TensorOf(index)], seed, index);
}

void ParamLayout::Initialize(uint64_t seed, int64_t begin, int64_t end,
                             float* out) const {
  CHECK(0 <= begin && begin <= end && end <= size())
      << "slice [" << begin << ", " << end << ") outside [0, " << size() << ")";
  if (begin == end) return;
  for (size_t t = TensorOf(begin); t < tensors_.size(); ++t) {
    const int64_t first = std::max(begin, offsets_[t]);
    const int64_t last = std::min(end, offsets_[t + 1]);
    if (first >= end) break;
    for (int64_t i = first; i < last; ++i) {
      out[i - begin] = ValueOf(tensors_[t], seed, i);
    }
  }
}

}  // namespace descent
