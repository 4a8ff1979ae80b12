// The optimizer and schedule a JobConfig's `optimizer` describes
// (common/optim/optimizer.h): its defaults applied, then each field copied
// into the chosen rule's options struct, which checks them.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/optim/optimizer.h"
#include "common/status_macros.h"

namespace descent {
namespace {

// Every function below but this one reads a config with defaults applied.
v1::OptimizerConfig WithDefaults(const v1::OptimizerConfig& config) {
  v1::OptimizerConfig resolved = config;
  ApplyOptimizerDefaults(&resolved);
  return resolved;
}

// "optimizer.adam" for the chosen optimizer. Needs one chosen.
std::string ChosenPath(const v1::OptimizerConfig& config) {
  return absl::StrCat("optimizer.",
                      v1::OptimizerConfig::descriptor()
                          ->FindFieldByNumber(config.optimizer_case())
                          ->name());
}

double LearningRateOf(const v1::OptimizerConfig& config) {
  switch (config.optimizer_case()) {
    case v1::OptimizerConfig::kSgd:
      return config.sgd().learning_rate();
    case v1::OptimizerConfig::kMomentum:
      return config.momentum().learning_rate();
    case v1::OptimizerConfig::kAdagrad:
      return config.adagrad().learning_rate();
    case v1::OptimizerConfig::kRmsprop:
      return config.rmsprop().learning_rate();
    case v1::OptimizerConfig::kAdam:
      return config.adam().learning_rate();
    case v1::OptimizerConfig::kAdamw:
      return config.adamw().learning_rate();
    default:
      return config.ftrl().learning_rate();
  }
}

ScheduleSpec::Kind KindOf(v1::ScheduleConfig::Kind kind) {
  switch (kind) {
    case v1::ScheduleConfig::STEP_DECAY:
      return ScheduleSpec::Kind::kStepDecay;
    case v1::ScheduleConfig::EXPONENTIAL:
      return ScheduleSpec::Kind::kExponential;
    case v1::ScheduleConfig::COSINE:
      return ScheduleSpec::Kind::kCosine;
    case v1::ScheduleConfig::INVERSE_SQRT:
      return ScheduleSpec::Kind::kInverseSqrt;
    default:
      return ScheduleSpec::Kind::kConstant;
  }
}

// The schedule peaks at the chosen optimizer's learning rate. Fields of
// other kinds than the config's are unset (0) and unread.
ScheduleSpec ScheduleSpecOf(const v1::OptimizerConfig& config) {
  const v1::ScheduleConfig& s = config.schedule();
  ScheduleSpec spec;
  spec.kind = KindOf(s.kind());
  spec.learning_rate = LearningRateOf(config);
  spec.warmup_steps = s.warmup_steps();
  spec.gamma = s.gamma();
  spec.step_size = s.step_size();
  spec.min_learning_rate = s.min_learning_rate();
  spec.period = s.period();
  spec.restarts = s.restarts();
  spec.period_multiplier = s.period_multiplier();
  spec.inverse_sqrt_steps = s.inverse_sqrt_steps();
  return spec;
}

MomentumOptions MomentumOf(const v1::MomentumConfig& c) {
  MomentumOptions options;
  options.momentum = c.momentum();
  options.nesterov = c.nesterov();
  return options;
}

AdagradOptions AdagradOf(const v1::AdagradConfig& c) {
  AdagradOptions options;
  options.eps = c.eps();
  options.initial_accumulator_value = c.initial_accumulator_value();
  return options;
}

RmspropOptions RmspropOf(const v1::RmspropConfig& c) {
  RmspropOptions options;
  options.alpha = c.alpha();
  options.eps = c.eps();
  return options;
}

AdamOptions AdamOf(const v1::AdamConfig& c) {
  AdamOptions options;
  options.beta1 = c.beta1();
  options.beta2 = c.beta2();
  options.eps = c.eps();
  options.weight_decay = c.weight_decay();
  return options;
}

FtrlOptions FtrlOf(const v1::FtrlConfig& c) {
  FtrlOptions options;
  options.beta = c.beta();
  options.l1 = c.l1();
  options.l2 = c.l2();
  options.learning_rate_power = c.learning_rate_power();
  return options;
}

std::optional<FieldProblem> FindResolvedProblem(
    const v1::OptimizerConfig& config) {
  if (config.optimizer_case() == v1::OptimizerConfig::OPTIMIZER_NOT_SET) {
    return FieldProblem{"optimizer", "none chosen"};
  }
  const std::string chosen = ChosenPath(config);
  if (auto problem = FindProblem(ScheduleSpecOf(config))) {
    // The schedule's peak is the optimizer's own learning_rate field.
    return Within(
        problem->field == "learning_rate" ? chosen : "optimizer.schedule",
        problem);
  }
  switch (config.optimizer_case()) {
    case v1::OptimizerConfig::kMomentum:
      return Within(chosen, FindProblem(MomentumOf(config.momentum())));
    case v1::OptimizerConfig::kAdagrad:
      return Within(chosen, FindProblem(AdagradOf(config.adagrad())));
    case v1::OptimizerConfig::kRmsprop:
      return Within(chosen, FindProblem(RmspropOf(config.rmsprop())));
    case v1::OptimizerConfig::kAdam:
      return Within(chosen, FindProblem(AdamOf(config.adam())));
    case v1::OptimizerConfig::kAdamw:
      return Within(chosen, FindProblem(AdamOf(config.adamw())));
    case v1::OptimizerConfig::kFtrl:
      return Within(chosen, FindProblem(FtrlOf(config.ftrl())));
    default:
      return std::nullopt;  // SGD: only its learning rate
  }
}

}  // namespace

std::optional<FieldProblem> FindOptimizerProblem(
    const v1::OptimizerConfig& config) {
  return FindResolvedProblem(WithDefaults(config));
}

absl::StatusOr<LearningRateSchedule> LearningRateScheduleOf(
    const v1::OptimizerConfig& config) {
  const v1::OptimizerConfig resolved = WithDefaults(config);
  if (auto problem = FindResolvedProblem(resolved)) {
    return InvalidArgument(*problem);
  }
  return CreateSchedule(ScheduleSpecOf(resolved));
}

absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
    const v1::OptimizerConfig& config, int64_t size) {
  const v1::OptimizerConfig c = WithDefaults(config);
  if (auto problem = FindResolvedProblem(c)) return InvalidArgument(*problem);
  ASSIGN_OR_RETURN(LearningRateSchedule schedule,
                   CreateSchedule(ScheduleSpecOf(c)));
  switch (c.optimizer_case()) {
    case v1::OptimizerConfig::kSgd: {
      if (c.schedule().kind() == v1::ScheduleConfig::CONSTANT &&
          c.schedule().warmup_steps() == 0) {
        // A constant schedule is its learning rate at every step.
        return std::make_unique<SgdOptimizer>(
            static_cast<float>(schedule.At(0)));
      }
      // SGD on a schedule: momentum 0 is plain SGD.
      MomentumOptions plain;
      plain.momentum = 0;
      return MomentumOptimizer::Create(size, schedule, plain);
    }
    case v1::OptimizerConfig::kMomentum:
      return MomentumOptimizer::Create(size, schedule,
                                       MomentumOf(c.momentum()));
    case v1::OptimizerConfig::kAdagrad:
      return AdagradOptimizer::Create(size, schedule, AdagradOf(c.adagrad()));
    case v1::OptimizerConfig::kRmsprop:
      return RmspropOptimizer::Create(size, schedule, RmspropOf(c.rmsprop()));
    case v1::OptimizerConfig::kAdam:
      return AdamOptimizer::Create(size, schedule, AdamOf(c.adam()));
    case v1::OptimizerConfig::kAdamw:
      return AdamOptimizer::Create(size, schedule, AdamOf(c.adamw()));
    default:
      return FtrlOptimizer::Create(size, schedule, FtrlOf(c.ftrl()));
  }
}

}  // namespace descent
