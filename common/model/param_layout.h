// A model's dense parameters: named tensors with shapes and init rules,
// concatenated in order into one flat float32 vector of size() elements.
//
// Initial values are a pure function of (seed, flat index): element i hashes
// (seed, i) with splitmix64 (counter-based, no sequential RNG state), so a
// server shard owning [begin, end) initializes its slice alone and gets
// exactly the values a whole-vector init would give it, and every run with
// the same seed starts from the same point. The rules:
//   kZeros          0.
//   kXavierUniform  U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
//   kHeNormal       N(0, sigma^2), sigma = sqrt(2 / fan_in).
//   kNormal         N(0, stddev^2).
// Normal draws use Box-Muller on two uniforms hashed from (seed, index).
//
// A ParamLayout is a value type: copy it freely. Const methods are
// thread-safe; Add is not and must not race with anything.
#ifndef DESCENT_COMMON_MODEL_PARAM_LAYOUT_H_
#define DESCENT_COMMON_MODEL_PARAM_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace descent {

// kTorchDefault: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for
// the weights and the biases of nn.Linear and nn.Conv2d.
enum class InitRule {
  kZeros,
  kXavierUniform,
  kHeNormal,
  kNormal,
  kTorchDefault
};

struct TensorSpec {
  std::string name;
  // Dimensions, row-major; the tensor holds their product of elements.
  std::vector<int64_t> shape;
  InitRule init = InitRule::kZeros;
  // Used by kXavierUniform (fan_in + fan_out > 0), kHeNormal and
  // kTorchDefault (fan_in > 0).
  int64_t fan_in = 0;
  int64_t fan_out = 0;
  // Standard deviation for kNormal.
  float stddev = 0.01f;
};

// The bias of a layer whose weights start by `weights`, from `fan_in`
// inputs: zeros, or under kTorchDefault (nn.Linear's bias) the weights'
// rule and range.
TensorSpec BiasSpec(std::string name, int64_t size, InitRule weights,
                    int64_t fan_in);

class ParamLayout {
 public:
  // Appends `spec` after the tensors already added. CHECK-fails on a negative
  // dimension or on fans its init rule cannot use.
  void Add(TensorSpec spec);

  // P, the number of floats in the flat vector.
  int64_t size() const { return offsets_.back(); }
  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  // Start of tensor `tensor` in the flat vector; CHECK-fails if out of range.
  int64_t offset(size_t tensor) const;

  // Initial value of flat element `index`; CHECK-fails unless
  // 0 <= index < size().
  float InitialValue(uint64_t seed, int64_t index) const;

  // Writes out[i - begin] = InitialValue(seed, i) for i in [begin, end).
  // `out` holds end - begin floats. CHECK-fails unless
  // 0 <= begin <= end <= size().
  void Initialize(uint64_t seed, int64_t begin, int64_t end, float* out) const;

  // Position in tensors() of the tensor holding flat element `index`, for
  // 0 <= index < size().
  size_t TensorOf(int64_t index) const;

 private:
  std::vector<TensorSpec> tensors_;
  // offsets_[i] is where tensor i starts; offsets_.back() is size().
  std::vector<int64_t> offsets_ = {0};
};

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_PARAM_LAYOUT_H_
