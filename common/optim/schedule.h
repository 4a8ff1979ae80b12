// Learning-rate schedules: the learning rate as a function of the global
// step (the number of updates already applied to a shard).
//
// A LearningRateSchedule is a small immutable value, cheap to copy, built
// from a plain ScheduleSpec by CreateSchedule(), which validates it. At() is
// const and touches no shared state, so a schedule may be read from any
// number of threads.
//
// Every kind may be preceded by a linear warmup of `warmup_steps` steps:
//   At(s) = learning_rate * (s + 1) / warmup_steps       for s < warmup_steps
//   At(s) = Base(s - warmup_steps)                        otherwise,
// where Base is one of the kinds below (each has Base(0) = learning_rate):
//   kConstant:     learning_rate
//   kStepDecay:    learning_rate * gamma^floor(t / step_size)
//   kExponential:  learning_rate * gamma^t
//   kCosine:       min_learning_rate + (learning_rate - min_learning_rate)
//                  * (1 + cos(pi * t_cur / t_i)) / 2.
//                  Without restarts t_i = period, t_cur = min(t, period): the
//                  rate stays at min_learning_rate once the period is over.
//                  With restarts (SGDR, Loshchilov & Hutter 2017, as torch's
//                  CosineAnnealingWarmRestarts) the rate jumps back to
//                  learning_rate at the end of each period and the next
//                  period is period_multiplier times longer; t_cur counts
//                  steps since the last restart.
//   kInverseSqrt:  learning_rate * sqrt(k / max(t, k)),
//                  k = inverse_sqrt_steps: constant for t <= k, then decaying
//                  as 1/sqrt(t). With warmup_steps = W and k = W this is the
//                  flat-then-rsqrt tail measured from the end of warmup.
#ifndef DESCENT_COMMON_OPTIM_SCHEDULE_H_
#define DESCENT_COMMON_OPTIM_SCHEDULE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/defaults.h"
#include "common/field_problem.h"

namespace descent {

// What a schedule is; only the fields of the chosen kind are read.
struct ScheduleSpec {
  enum class Kind {
    kConstant,
    kStepDecay,
    kExponential,
    kCosine,
    kInverseSqrt
  };
  Kind kind = Kind::kConstant;

  // The peak learning rate; finite and > 0.
  double learning_rate = defaults::kSgdLearningRate;

  // Linear warmup in front of any kind; >= 0 (0: none).
  int64_t warmup_steps = 0;

  // kStepDecay: multiply by gamma every step_size steps; kExponential:
  // multiply by gamma every step. gamma finite and > 0, step_size > 0.
  double gamma = defaults::kScheduleGamma;
  int64_t step_size = defaults::kScheduleStepSize;

  // kCosine: anneal to min_learning_rate (in [0, learning_rate]) over
  // `period` (> 0) steps; with `restarts`, each period is
  // period_multiplier (finite, >= 1) times the previous one.
  double min_learning_rate = 0.0;
  int64_t period = defaults::kSchedulePeriod;
  bool restarts = false;
  double period_multiplier = defaults::kSchedulePeriodMultiplier;

  // kInverseSqrt: steps (>= 1) before the 1/sqrt decay starts.
  int64_t inverse_sqrt_steps = defaults::kScheduleInverseSqrtSteps;
};

class LearningRateSchedule {
 public:
  // A schedule that is always `learning_rate`.
  static LearningRateSchedule Constant(double learning_rate);

  // The learning rate for the update that follows `step` (>= 0) updates.
  double At(int64_t step) const;

 private:
  friend absl::StatusOr<LearningRateSchedule> CreateSchedule(
      const ScheduleSpec& spec);
  explicit LearningRateSchedule(const ScheduleSpec& spec) : spec_(spec) {}

  double Base(int64_t step) const;
  double Cosine(int64_t step) const;

  ScheduleSpec spec_;
};

// The first rule `spec` breaks, its field named as in ScheduleSpec
// ("period"), or nullopt. Only the fields of spec.kind are checked.
std::optional<FieldProblem> FindProblem(const ScheduleSpec& spec);

// The schedule `spec` describes; INVALID_ARGUMENT "field: problem" for the
// first rule it breaks (FindProblem).
absl::StatusOr<LearningRateSchedule> CreateSchedule(const ScheduleSpec& spec);

}  // namespace descent

#endif  // DESCENT_COMMON_OPTIM_SCHEDULE_H_
