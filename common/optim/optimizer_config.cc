// The optimizer and schedule a JobConfig's `optimizer` describes
// (common/optim/optimizer.h): its defaults applied, then each field copied
// into the chosen rule's options struct, which checks them.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/defaults.h"
#include "common/optim/optimizer.h"
#include "common/status_macros.h"

namespace descent {
namespace {

using namespace defaults;  // the k* constants of common/defaults.h

// Sets `config`'s learning_rate to `rate` unless it has one.
template <typename Config>
void DefaultLearningRate(Config* config, double rate) {
  if (!config->has_learning_rate()) config->set_learning_rate(rate);
}

void ApplyAdamDefaults(v1::AdamConfig* adam, double weight_decay) {
  DefaultLearningRate(adam, kAdamLearningRate);
  if (!adam->has_beta1()) adam->set_beta1(kAdamBeta1);
  if (!adam->has_beta2()) adam->set_beta2(kAdamBeta2);
  if (!adam->has_eps()) adam->set_eps(kAdamEps);
  if (!adam->has_weight_decay()) adam->set_weight_decay(weight_decay);
}

// Only the fields that the schedule's kind reads, so that a config without
// a schedule prints without one.
void ApplyScheduleDefaults(v1::ScheduleConfig* s) {
  switch (s->kind()) {
    case v1::ScheduleConfig::STEP_DECAY:
      if (!s->has_step_size()) s->set_step_size(kScheduleStepSize);
      [[fallthrough]];
    case v1::ScheduleConfig::EXPONENTIAL:
      if (!s->has_gamma()) s->set_gamma(kScheduleGamma);
      break;
    case v1::ScheduleConfig::COSINE:
      if (!s->has_period()) s->set_period(kSchedulePeriod);
      if (!s->has_period_multiplier()) {
        s->set_period_multiplier(kSchedulePeriodMultiplier);
      }
      break;
    case v1::ScheduleConfig::INVERSE_SQRT:
      if (!s->has_inverse_sqrt_steps()) {
        s->set_inverse_sqrt_steps(kScheduleInverseSqrtSteps);
      }
      break;
    default:
      break;
  }
}

// The chosen FedOpt rule's config (FedAdam, FedYogi, FedAdagrad).
v1::FedOptConfig* MutableFedOpt(v1::OptimizerConfig* o) {
  switch (o->optimizer_case()) {
    case v1::OptimizerConfig::kFedyogi:
      return o->mutable_fedyogi();
    case v1::OptimizerConfig::kFedadagrad:
      return o->mutable_fedadagrad();
    default:
      return o->mutable_fedadam();
  }
}

const v1::FedOptConfig* FedOptOf(const v1::OptimizerConfig& o) {
  switch (o.optimizer_case()) {
    case v1::OptimizerConfig::kFedadam:
      return &o.fedadam();
    case v1::OptimizerConfig::kFedyogi:
      return &o.fedyogi();
    case v1::OptimizerConfig::kFedadagrad:
      return &o.fedadagrad();
    default:
      return nullptr;
  }
}

FedOptOptions FedOptOptionsOf(const v1::OptimizerConfig& o) {
  const v1::FedOptConfig& c = *FedOptOf(o);
  FedOptOptions options;
  options.kind = o.optimizer_case() == v1::OptimizerConfig::kFedyogi
                     ? FedOptOptions::Kind::kYogi
                 : o.optimizer_case() == v1::OptimizerConfig::kFedadagrad
                     ? FedOptOptions::Kind::kAdagrad
                     : FedOptOptions::Kind::kAdam;
  options.beta1 = c.beta1();
  options.beta2 = c.beta2();
  options.tau = c.tau();
  return options;
}

void ApplyOptimizerFieldDefaults(v1::OptimizerConfig* o) {
  switch (o->optimizer_case()) {
    case v1::OptimizerConfig::kSgd:
      DefaultLearningRate(o->mutable_sgd(), kSgdLearningRate);
      break;
    case v1::OptimizerConfig::kMomentum:
      DefaultLearningRate(o->mutable_momentum(), kMomentumLearningRate);
      if (!o->momentum().has_momentum()) {
        o->mutable_momentum()->set_momentum(kMomentum);
      }
      break;
    case v1::OptimizerConfig::kAdagrad:
      DefaultLearningRate(o->mutable_adagrad(), kAdagradLearningRate);
      if (!o->adagrad().has_eps()) o->mutable_adagrad()->set_eps(kAdagradEps);
      break;
    case v1::OptimizerConfig::kRmsprop: {
      v1::RmspropConfig* rmsprop = o->mutable_rmsprop();
      DefaultLearningRate(rmsprop, kRmspropLearningRate);
      if (!rmsprop->has_alpha()) rmsprop->set_alpha(kRmspropAlpha);
      if (!rmsprop->has_eps()) rmsprop->set_eps(kRmspropEps);
      break;
    }
    case v1::OptimizerConfig::kAdam:
      ApplyAdamDefaults(o->mutable_adam(), kAdamWeightDecay);
      break;
    case v1::OptimizerConfig::kAdamw:
      ApplyAdamDefaults(o->mutable_adamw(), kAdamwWeightDecay);
      break;
    case v1::OptimizerConfig::kFtrl: {
      v1::FtrlConfig* ftrl = o->mutable_ftrl();
      DefaultLearningRate(ftrl, kFtrlLearningRate);
      if (!ftrl->has_beta()) ftrl->set_beta(kFtrlBeta);
      if (!ftrl->has_learning_rate_power()) {
        ftrl->set_learning_rate_power(kFtrlLearningRatePower);
      }
      break;
    }
    case v1::OptimizerConfig::kFedadam:
    case v1::OptimizerConfig::kFedyogi:
    case v1::OptimizerConfig::kFedadagrad: {
      v1::FedOptConfig* fed = MutableFedOpt(o);
      DefaultLearningRate(fed, kFedOptLearningRate);
      if (!fed->has_beta1()) fed->set_beta1(kFedOptBeta1);
      if (!fed->has_beta2()) fed->set_beta2(kFedOptBeta2);
      if (!fed->has_tau()) fed->set_tau(kFedOptTau);
      break;
    }
    default:
      return;  // none chosen: nothing to fill
  }
  if (o->has_schedule()) ApplyScheduleDefaults(o->mutable_schedule());
}

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
    case v1::OptimizerConfig::kFedadam:
    case v1::OptimizerConfig::kFedyogi:
    case v1::OptimizerConfig::kFedadagrad:
      return FedOptOf(config)->learning_rate();
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
    case v1::OptimizerConfig::kFedadam:
    case v1::OptimizerConfig::kFedyogi:
    case v1::OptimizerConfig::kFedadagrad:
      return Within(chosen, FindProblem(FedOptOptionsOf(config)));
    default:
      return std::nullopt;  // SGD: only its learning rate
  }
}

}  // namespace

double ChosenLearningRate(const v1::OptimizerConfig& config) {
  if (config.optimizer_case() == v1::OptimizerConfig::OPTIMIZER_NOT_SET) {
    return 0;
  }
  return LearningRateOf(WithDefaults(config));
}

void ApplyOptimizerDefaults(v1::OptimizerConfig* optimizer) {
  ApplyOptimizerFieldDefaults(optimizer);
}

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
    case v1::OptimizerConfig::kFedadam:
    case v1::OptimizerConfig::kFedyogi:
    case v1::OptimizerConfig::kFedadagrad:
      return FedOptOptimizer::Create(size, schedule, FedOptOptionsOf(c));
    default:
      return FtrlOptimizer::Create(size, schedule, FtrlOf(c.ftrl()));
  }
}

}  // namespace descent
