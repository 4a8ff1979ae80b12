// StepChecks: what a worker checks and measures of each step's loss and
// gradient before it pushes, and the clipping it then applies.
//
// The divergence guard (train.max_loss_factor): a step whose loss is not
// finite, or exceeds max_loss_factor times the mean loss of the worker's
// first 10 steps, is a divergence; so is a gradient whose L2 norm is not
// finite. Check() returns DivergedError (common/exit_codes.h) with a
// message that names the worker, its step and the value.
//
// Norms: the L2 norm of each tensor of the layout, then of the sparse rows
// ("sparse_rows") for sparse models, and of the whole gradient. Check()
// leaves them in norms() and sets the metrics' gauges (if any).
// Not thread-safe.
#ifndef DESCENT_WORKER_STEP_CHECKS_H_
#define DESCENT_WORKER_STEP_CHECKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "common/model/param_layout.h"
#include "common/optim/clipping.h"
#include "common/optim/divergence_guard.h"

namespace descent {

struct StepCheckOptions {
  int32_t worker_id = 0;
  // 0: only the non-finite checks.
  double max_loss_factor = 0;
  // Gradient clipping (0: off): every element to [-clip_value, clip_value],
  // then the whole gradient (dense and rows) to an L2 norm of at most
  // clip_norm.
  float clip_value = 0;
  float clip_norm = 0;
};

class StepChecks {
 public:
  // `layout` and `metrics` (may be null) must outlive the checks.
  StepChecks(StepCheckOptions options, const ParamLayout& layout, bool has_rows,
             WorkerMetrics* metrics);

  // The norms' layer names: the layout's tensors, then "sparse_rows".
  const std::vector<std::string>& layers() const { return layers_; }
  // Per layer, the last checked step's gradient norms.
  const std::vector<double>& norms() const { return norms_; }

  // Checks step `step`'s loss and gradient (dense part `dense`, row part
  // `rows`, empty for dense models) and measures its norms. Returns the
  // whole gradient's norm, or DivergedError.
  absl::StatusOr<double> Check(int64_t step, float loss, GradientSpan dense,
                               GradientSpan rows);

  // Clips the gradient as the options say; `norm` is Check()'s result.
  void Clip(GradientSpan dense, GradientSpan rows, double norm) const;

 private:
  const StepCheckOptions options_;
  const ParamLayout& layout_;
  const bool has_rows_;
  std::vector<std::string> layers_;
  std::vector<double> norms_;
  // Gauges by layer, then the total (empty without metrics).
  std::vector<prometheus::Gauge*> gauges_;
  DivergenceGuard loss_guard_;
};

}  // namespace descent

#endif  // DESCENT_WORKER_STEP_CHECKS_H_
