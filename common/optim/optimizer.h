// The server-side update rule applied by a parameter shard.
//
// An Optimizer owns the per-parameter state it needs (none for plain SGD;
// moments for later rules) for one contiguous slice of the parameter vector,
// so each shard holds exactly the state of the parameters it owns.
// Not thread-safe: the shard calls it under its own lock.
#ifndef DESCENT_COMMON_OPTIM_OPTIMIZER_H_
#define DESCENT_COMMON_OPTIM_OPTIMIZER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "descent/v1/job.pb.h"

namespace descent {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Updates params[i] for i in [0, n) from grad[i]. `position` is the
  // index of params[0] within the optimizer's slice (for per-parameter
  // state); `version` counts updates already applied to the slice.
  virtual void Apply(int64_t position, const float* grad, int64_t n,
                     int64_t version, float* params) = 0;
};

// Plain stochastic gradient descent: params -= learning_rate * grad.
class SgdOptimizer : public Optimizer {
 public:
  explicit SgdOptimizer(float learning_rate) : learning_rate_(learning_rate) {}
  void Apply(int64_t position, const float* grad, int64_t n, int64_t version,
             float* params) override;

 private:
  const float learning_rate_;
};

// The optimizer `config` describes, for a slice of `size` parameters.
// INVALID_ARGUMENT if none is chosen.
absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
    const v1::OptimizerConfig& config, int64_t size);

}  // namespace descent

#endif  // DESCENT_COMMON_OPTIM_OPTIMIZER_H_
