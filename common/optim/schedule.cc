#include "common/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace descent {
namespace {

constexpr double kPi = 3.14159265358979323846;

absl::Status Bad(const char* field, const char* rule) {
  return absl::InvalidArgumentError(
      absl::StrCat("learning-rate schedule: ", field, " must be ", rule));
}

bool Positive(double x) { return std::isfinite(x) && x > 0; }

}  // namespace

LearningRateSchedule LearningRateSchedule::Constant(double learning_rate) {
  ScheduleSpec spec;
  spec.learning_rate = learning_rate;
  return LearningRateSchedule(spec);
}

double LearningRateSchedule::At(int64_t step) const {
  step = std::max<int64_t>(step, 0);
  if (step < spec_.warmup_steps) {
    return spec_.learning_rate * static_cast<double>(step + 1) /
           static_cast<double>(spec_.warmup_steps);
  }
  return Base(step - spec_.warmup_steps);
}

double LearningRateSchedule::Base(int64_t t) const {
  const double lr = spec_.learning_rate;
  switch (spec_.kind) {
    case ScheduleSpec::Kind::kConstant:
      return lr;
    case ScheduleSpec::Kind::kStepDecay:
      return lr *
             std::pow(spec_.gamma, static_cast<double>(t / spec_.step_size));
    case ScheduleSpec::Kind::kExponential:
      return lr * std::pow(spec_.gamma, static_cast<double>(t));
    case ScheduleSpec::Kind::kCosine:
      return Cosine(t);
    case ScheduleSpec::Kind::kInverseSqrt: {
      const double k = static_cast<double>(spec_.inverse_sqrt_steps);
      return lr * std::sqrt(k / std::max(static_cast<double>(t), k));
    }
  }
  return lr;
}

double LearningRateSchedule::Cosine(int64_t t) const {
  double t_cur = static_cast<double>(t);
  double t_i = static_cast<double>(spec_.period);
  if (!spec_.restarts) {
    t_cur = std::min(t_cur, t_i);
  } else if (spec_.period_multiplier == 1.0) {
    t_cur = static_cast<double>(t % spec_.period);
  } else {
    // Periods grow geometrically, so this runs O(log t) times.
    while (t_cur >= t_i) {
      t_cur -= t_i;
      t_i *= spec_.period_multiplier;
    }
  }
  const double min_lr = spec_.min_learning_rate;
  return min_lr +
         (spec_.learning_rate - min_lr) * (1 + std::cos(kPi * t_cur / t_i)) / 2;
}

absl::StatusOr<LearningRateSchedule> CreateSchedule(const ScheduleSpec& spec) {
  using Kind = ScheduleSpec::Kind;
  if (!Positive(spec.learning_rate)) {
    return Bad("learning_rate", "finite and > 0");
  }
  if (spec.warmup_steps < 0) return Bad("warmup_steps", ">= 0");
  switch (spec.kind) {
    case Kind::kConstant:
      break;
    case Kind::kStepDecay:
      if (spec.step_size <= 0) return Bad("step_size", "> 0");
      [[fallthrough]];
    case Kind::kExponential:
      if (!Positive(spec.gamma)) return Bad("gamma", "finite and > 0");
      break;
    case Kind::kCosine:
      if (!(spec.min_learning_rate >= 0 &&
            spec.min_learning_rate <= spec.learning_rate)) {
        return Bad("min_learning_rate", "in [0, learning_rate]");
      }
      if (spec.period <= 0) return Bad("period", "> 0");
      if (spec.restarts && !(std::isfinite(spec.period_multiplier) &&
                             spec.period_multiplier >= 1)) {
        return Bad("period_multiplier", "finite and >= 1");
      }
      break;
    case Kind::kInverseSqrt:
      if (spec.inverse_sqrt_steps < 1) return Bad("inverse_sqrt_steps", ">= 1");
      break;
    default:
      return Bad("kind", "one of the ScheduleSpec::Kind values");
  }
  return LearningRateSchedule(spec);
}

}  // namespace descent
