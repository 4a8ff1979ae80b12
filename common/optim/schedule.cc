#include "common/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace descent {
namespace {

constexpr double kPi = 3.14159265358979323846;

constexpr char kPositive[] = "a finite number > 0";

bool Positive(double x) { return std::isfinite(x) && x > 0; }

std::optional<FieldProblem> FindCosineProblem(const ScheduleSpec& spec) {
  return First(
      {Require(spec.min_learning_rate >= 0 &&
                   spec.min_learning_rate <= spec.learning_rate,
               "min_learning_rate",
               absl::StrCat("in [0, ", spec.learning_rate,
                            "] (at most the learning rate)"),
               spec.min_learning_rate),
       Require(spec.period > 0, "period", "> 0",
               static_cast<double>(spec.period)),
       Require(!spec.restarts || (std::isfinite(spec.period_multiplier) &&
                                  spec.period_multiplier >= 1),
               "period_multiplier", "a finite number >= 1",
               spec.period_multiplier)});
}

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

std::optional<FieldProblem> FindProblem(const ScheduleSpec& spec) {
  using Kind = ScheduleSpec::Kind;
  if (auto problem =
          First({Require(Positive(spec.learning_rate), "learning_rate",
                         kPositive, spec.learning_rate),
                 Require(spec.warmup_steps >= 0, "warmup_steps", ">= 0",
                         static_cast<double>(spec.warmup_steps))})) {
    return problem;
  }
  switch (spec.kind) {
    case Kind::kConstant:
      return std::nullopt;
    case Kind::kStepDecay:
      if (spec.step_size <= 0) {
        return MustBe("step_size", "> 0", static_cast<double>(spec.step_size));
      }
      [[fallthrough]];
    case Kind::kExponential:
      return Require(Positive(spec.gamma), "gamma", kPositive, spec.gamma);
    case Kind::kCosine:
      return FindCosineProblem(spec);
    case Kind::kInverseSqrt:
      return Require(spec.inverse_sqrt_steps >= 1, "inverse_sqrt_steps", ">= 1",
                     static_cast<double>(spec.inverse_sqrt_steps));
  }
  return MustBe("kind", "one of the ScheduleSpec::Kind values",
                static_cast<int>(spec.kind));
}

absl::StatusOr<LearningRateSchedule> CreateSchedule(const ScheduleSpec& spec) {
  if (auto problem = FindProblem(spec)) return InvalidArgument(*problem);
  return LearningRateSchedule(spec);
}

}  // namespace descent
