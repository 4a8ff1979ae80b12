#include "common/optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "glog/logging.h"

// Element loops keep torch's float32 order of operations: each tensor op in
// torch.optim rounds to float, with its Python-double scalars cast to float.
namespace descent {
namespace {

absl::Status Bad(const char* optimizer, const char* field, const char* rule) {
  return absl::InvalidArgumentError(
      absl::StrCat(optimizer, ": ", field, " must be ", rule));
}

bool InUnit(double x) { return x >= 0 && x < 1; }  // [0, 1), NaN false
bool NonNegative(double x) { return std::isfinite(x) && x >= 0; }
bool Positive(double x) { return std::isfinite(x) && x > 0; }

template <typename T>
void GrowTo(std::vector<T>& state, int64_t size, T value = T()) {
  if (size > static_cast<int64_t>(state.size())) {
    state.resize(static_cast<size_t>(size), value);
  }
}

template <typename T>
int64_t Bytes(const std::vector<T>& state) {
  return static_cast<int64_t>(state.capacity() * sizeof(T));
}

void CheckRange(int64_t position, int64_t n, size_t size) {
  DCHECK_GE(position, 0);
  DCHECK_LE(position + n, static_cast<int64_t>(size));
}

}  // namespace

void SgdOptimizer::Apply(int64_t /*position*/, const float* grad, int64_t n,
                         int64_t /*version*/, float* params) {
  Eigen::Map<Eigen::ArrayXf> p(params, n);
  Eigen::Map<const Eigen::ArrayXf> g(grad, n);
  p -= learning_rate_ * g;
}

// --- Momentum ---------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> MomentumOptimizer::Create(
    int64_t size, LearningRateSchedule lr, MomentumOptions options) {
  if (!InUnit(options.momentum))
    return Bad("momentum", "momentum", "in [0, 1)");
  return std::unique_ptr<Optimizer>(
      new MomentumOptimizer(size, std::move(lr), options));
}

MomentumOptimizer::MomentumOptimizer(int64_t size, LearningRateSchedule lr,
                                     MomentumOptions options)
    : lr_(std::move(lr)), options_(options) {
  GrowTo(velocity_, size);
}

void MomentumOptimizer::Grow(int64_t size) { GrowTo(velocity_, size); }

int64_t MomentumOptimizer::state_bytes() const { return Bytes(velocity_); }

void MomentumOptimizer::Apply(int64_t position, const float* grad, int64_t n,
                              int64_t version, float* params) {
  CheckRange(position, n, velocity_.size());
  const float lr = static_cast<float>(lr_.At(version));
  const float mu = static_cast<float>(options_.momentum);
  float* v = velocity_.data() + position;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = v[i] * mu + grad[i];
    const float step = options_.nesterov ? grad[i] + mu * v[i] : v[i];
    params[i] += -lr * step;
  }
}

// --- Adagrad ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> AdagradOptimizer::Create(
    int64_t size, LearningRateSchedule lr, AdagradOptions options) {
  if (!Positive(options.eps)) return Bad("adagrad", "eps", "finite and > 0");
  if (!NonNegative(options.initial_accumulator_value)) {
    return Bad("adagrad", "initial_accumulator_value", "finite and >= 0");
  }
  return std::unique_ptr<Optimizer>(
      new AdagradOptimizer(size, std::move(lr), options));
}

AdagradOptimizer::AdagradOptimizer(int64_t size, LearningRateSchedule lr,
                                   AdagradOptions options)
    : lr_(std::move(lr)), options_(options) {
  Grow(size);
}

void AdagradOptimizer::Grow(int64_t size) {
  GrowTo(sum_, size, static_cast<float>(options_.initial_accumulator_value));
}

int64_t AdagradOptimizer::state_bytes() const { return Bytes(sum_); }

void AdagradOptimizer::Apply(int64_t position, const float* grad, int64_t n,
                             int64_t version, float* params) {
  CheckRange(position, n, sum_.size());
  const float lr = static_cast<float>(lr_.At(version));
  const float eps = static_cast<float>(options_.eps);
  float* sum = sum_.data() + position;
  for (int64_t i = 0; i < n; ++i) {
    sum[i] += grad[i] * grad[i];
    params[i] += -lr * grad[i] / (std::sqrt(sum[i]) + eps);
  }
}

// --- RMSprop ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> RmspropOptimizer::Create(
    int64_t size, LearningRateSchedule lr, RmspropOptions options) {
  if (!InUnit(options.alpha)) return Bad("rmsprop", "alpha", "in [0, 1)");
  if (!Positive(options.eps)) return Bad("rmsprop", "eps", "finite and > 0");
  return std::unique_ptr<Optimizer>(
      new RmspropOptimizer(size, std::move(lr), options));
}

RmspropOptimizer::RmspropOptimizer(int64_t size, LearningRateSchedule lr,
                                   RmspropOptions options)
    : lr_(std::move(lr)), options_(options) {
  GrowTo(square_avg_, size);
}

void RmspropOptimizer::Grow(int64_t size) { GrowTo(square_avg_, size); }

int64_t RmspropOptimizer::state_bytes() const { return Bytes(square_avg_); }

void RmspropOptimizer::Apply(int64_t position, const float* grad, int64_t n,
                             int64_t version, float* params) {
  CheckRange(position, n, square_avg_.size());
  const float lr = static_cast<float>(lr_.At(version));
  const float alpha = static_cast<float>(options_.alpha);
  const float one_minus_alpha = static_cast<float>(1 - options_.alpha);
  const float eps = static_cast<float>(options_.eps);
  float* sq = square_avg_.data() + position;
  for (int64_t i = 0; i < n; ++i) {
    sq[i] = sq[i] * alpha + one_minus_alpha * grad[i] * grad[i];
    params[i] += -lr * grad[i] / (std::sqrt(sq[i]) + eps);
  }
}

// --- Adam / AdamW -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> AdamOptimizer::Create(
    int64_t size, LearningRateSchedule lr, AdamOptions options) {
  if (!InUnit(options.beta1)) return Bad("adam", "beta1", "in [0, 1)");
  if (!InUnit(options.beta2)) return Bad("adam", "beta2", "in [0, 1)");
  if (!Positive(options.eps)) return Bad("adam", "eps", "finite and > 0");
  if (!NonNegative(options.weight_decay)) {
    return Bad("adam", "weight_decay", "finite and >= 0");
  }
  return std::unique_ptr<Optimizer>(
      new AdamOptimizer(size, std::move(lr), options));
}

AdamOptimizer::AdamOptimizer(int64_t size, LearningRateSchedule lr,
                             AdamOptions options)
    : lr_(std::move(lr)), options_(options) {
  Grow(size);
}

void AdamOptimizer::Grow(int64_t size) {
  GrowTo(m_, size);
  GrowTo(v_, size);
  GrowTo(steps_, size);
}

int64_t AdamOptimizer::state_bytes() const {
  return Bytes(m_) + Bytes(v_) + Bytes(steps_);
}

void AdamOptimizer::Apply(int64_t position, const float* grad, int64_t n,
                          int64_t version, float* params) {
  CheckRange(position, n, m_.size());
  const double lr = lr_.At(version);
  const double b1 = options_.beta1, b2 = options_.beta2;
  const float decay = static_cast<float>(1 - lr * options_.weight_decay);
  const float b1f = static_cast<float>(b1), b2f = static_cast<float>(b2);
  const float one_minus_b1 = static_cast<float>(1 - b1);
  const float one_minus_b2 = static_cast<float>(1 - b2);
  const float eps = static_cast<float>(options_.eps);
  float* m = m_.data() + position;
  float* v = v_.data() + position;
  int32_t* steps = steps_.data() + position;
  // Per-parameter bias correction, in double as torch computes it. A slice
  // mostly shares one step count, so the powers are recomputed only when
  // it changes (they cost more than the rest of the update).
  int32_t last_t = -1;
  float step_size = 0, bc2_sqrt = 1;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t t = ++steps[i];
    if (t != last_t) {
      step_size = static_cast<float>(lr / (1 - std::pow(b1, t)));
      bc2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(b2, t)));
      last_t = t;
    }
    if (options_.weight_decay != 0) params[i] *= decay;
    m[i] = m[i] * b1f + one_minus_b1 * grad[i];
    v[i] = v[i] * b2f + one_minus_b2 * grad[i] * grad[i];
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    params[i] += -step_size * m[i] / denom;
  }
}

// --- FTRL-Proximal ----------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> FtrlOptimizer::Create(
    int64_t size, LearningRateSchedule lr, FtrlOptions options) {
  if (!NonNegative(options.beta)) return Bad("ftrl", "beta", "finite and >= 0");
  if (!NonNegative(options.l1)) return Bad("ftrl", "l1", "finite and >= 0");
  if (!NonNegative(options.l2)) return Bad("ftrl", "l2", "finite and >= 0");
  if (!(std::isfinite(options.learning_rate_power) &&
        options.learning_rate_power <= 0)) {
    return Bad("ftrl", "learning_rate_power", "finite and <= 0");
  }
  return std::unique_ptr<Optimizer>(
      new FtrlOptimizer(size, std::move(lr), options));
}

FtrlOptimizer::FtrlOptimizer(int64_t size, LearningRateSchedule lr,
                             FtrlOptions options)
    : lr_(std::move(lr)), options_(options) {
  Grow(size);
}

void FtrlOptimizer::Grow(int64_t size) {
  GrowTo(z_, size);
  GrowTo(n_, size);
}

int64_t FtrlOptimizer::state_bytes() const { return Bytes(z_) + Bytes(n_); }

double FtrlOptimizer::Power(double n) const {
  return options_.learning_rate_power == -0.5
             ? std::sqrt(n)
             : std::pow(n, -options_.learning_rate_power);
}

void FtrlOptimizer::Apply(int64_t position, const float* grad, int64_t n,
                          int64_t version, float* params) {
  CheckRange(position, n, z_.size());
  const double alpha = lr_.At(version);
  const double l1 = options_.l1, l2 = options_.l2, beta = options_.beta;
  float* z = z_.data() + position;
  float* acc = n_.data() + position;
  for (int64_t i = 0; i < n; ++i) {
    const double g = grad[i];
    const double n_old = acc[i];
    const double n_new = n_old + g * g;
    const double sigma = (Power(n_new) - Power(n_old)) / alpha;
    const double z_new = z[i] + g - sigma * params[i];
    z[i] = static_cast<float>(z_new);
    acc[i] = static_cast<float>(n_new);
    if (std::abs(z_new) <= l1) {
      params[i] = 0;
    } else {
      const double sign = z_new < 0 ? -1.0 : 1.0;
      params[i] = static_cast<float>(-(z_new - sign * l1) /
                                     ((beta + Power(n_new)) / alpha + l2));
    }
  }
}

namespace {

// `value` if the config sets it, else `fallback`.
#define DESCENT_OR(message, field, fallback) \
  ((message).has_##field() ? (message).field() : (fallback))

absl::StatusOr<LearningRateSchedule> ScheduleOf(
    const v1::ScheduleConfig& config, double learning_rate) {
  ScheduleSpec spec;
  switch (config.kind()) {
    case v1::ScheduleConfig::STEP_DECAY:
      spec.kind = ScheduleSpec::Kind::kStepDecay;
      break;
    case v1::ScheduleConfig::EXPONENTIAL:
      spec.kind = ScheduleSpec::Kind::kExponential;
      break;
    case v1::ScheduleConfig::COSINE:
      spec.kind = ScheduleSpec::Kind::kCosine;
      break;
    case v1::ScheduleConfig::INVERSE_SQRT:
      spec.kind = ScheduleSpec::Kind::kInverseSqrt;
      break;
    default:
      spec.kind = ScheduleSpec::Kind::kConstant;
  }
  spec.learning_rate = learning_rate;
  spec.warmup_steps = config.warmup_steps();
  spec.gamma = DESCENT_OR(config, gamma, spec.gamma);
  spec.step_size = DESCENT_OR(config, step_size, spec.step_size);
  spec.min_learning_rate = config.min_learning_rate();
  spec.period = DESCENT_OR(config, period, spec.period);
  spec.restarts = config.restarts();
  spec.period_multiplier =
      DESCENT_OR(config, period_multiplier, spec.period_multiplier);
  spec.inverse_sqrt_steps =
      DESCENT_OR(config, inverse_sqrt_steps, spec.inverse_sqrt_steps);
  absl::StatusOr<LearningRateSchedule> schedule = CreateSchedule(spec);
  if (!schedule.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.schedule: ", schedule.status().message()));
  }
  return schedule;
}

absl::StatusOr<std::unique_ptr<Optimizer>> Named(
    const char* name, absl::StatusOr<std::unique_ptr<Optimizer>> created) {
  if (created.ok()) return created;
  return absl::InvalidArgumentError(
      absl::StrCat("optimizer.", name, ": ", created.status().message()));
}

}  // namespace

absl::StatusOr<LearningRateSchedule> LearningRateScheduleOf(
    const v1::OptimizerConfig& config) {
  double learning_rate = 0;
  switch (config.optimizer_case()) {
    case v1::OptimizerConfig::kSgd:
      learning_rate = DESCENT_OR(config.sgd(), learning_rate, 0.1);
      break;
    case v1::OptimizerConfig::kMomentum:
      learning_rate = DESCENT_OR(config.momentum(), learning_rate, 0.1);
      break;
    case v1::OptimizerConfig::kAdagrad:
    case v1::OptimizerConfig::kRmsprop:
      learning_rate = config.has_adagrad()
                          ? DESCENT_OR(config.adagrad(), learning_rate, 0.01)
                          : DESCENT_OR(config.rmsprop(), learning_rate, 0.01);
      break;
    case v1::OptimizerConfig::kAdam:
      learning_rate = DESCENT_OR(config.adam(), learning_rate, 0.001);
      break;
    case v1::OptimizerConfig::kAdamw:
      learning_rate = DESCENT_OR(config.adamw(), learning_rate, 0.001);
      break;
    case v1::OptimizerConfig::kFtrl:
      learning_rate = DESCENT_OR(config.ftrl(), learning_rate, 0.1);
      break;
    default:
      return absl::InvalidArgumentError("optimizer: none chosen");
  }
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) {
    const std::string name(v1::OptimizerConfig::descriptor()
                               ->FindFieldByNumber(config.optimizer_case())
                               ->name());
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.", name,
                     ".learning_rate: must be a finite "
                     "number > 0, got ",
                     learning_rate));
  }
  return ScheduleOf(config.schedule(), learning_rate);
}

absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
    const v1::OptimizerConfig& config, int64_t size) {
  ASSIGN_OR_RETURN(LearningRateSchedule schedule,
                   LearningRateScheduleOf(config));
  switch (config.optimizer_case()) {
    case v1::OptimizerConfig::kSgd:
      if (config.schedule().kind() == v1::ScheduleConfig::CONSTANT &&
          config.schedule().warmup_steps() == 0) {
        // A constant schedule is its learning rate at every step.
        return std::make_unique<SgdOptimizer>(
            static_cast<float>(schedule.At(0)));
      }
      // SGD on a schedule: momentum 0 is plain SGD.
      return Named("sgd", MomentumOptimizer::Create(
                              size, schedule, MomentumOptions{0.0, false}));
    case v1::OptimizerConfig::kMomentum: {
      const v1::MomentumConfig& c = config.momentum();
      MomentumOptions options;
      options.momentum = DESCENT_OR(c, momentum, options.momentum);
      options.nesterov = c.nesterov();
      return Named("momentum",
                   MomentumOptimizer::Create(size, schedule, options));
    }
    case v1::OptimizerConfig::kAdagrad: {
      const v1::AdagradConfig& c = config.adagrad();
      AdagradOptions options;
      options.eps = DESCENT_OR(c, eps, options.eps);
      options.initial_accumulator_value = c.initial_accumulator_value();
      return Named("adagrad",
                   AdagradOptimizer::Create(size, schedule, options));
    }
    case v1::OptimizerConfig::kRmsprop: {
      const v1::RmspropConfig& c = config.rmsprop();
      RmspropOptions options;
      options.alpha = DESCENT_OR(c, alpha, options.alpha);
      options.eps = DESCENT_OR(c, eps, options.eps);
      return Named("rmsprop",
                   RmspropOptimizer::Create(size, schedule, options));
    }
    case v1::OptimizerConfig::kAdam:
    case v1::OptimizerConfig::kAdamw: {
      const bool decoupled = config.has_adamw();
      const v1::AdamConfig& c = decoupled ? config.adamw() : config.adam();
      AdamOptions options = decoupled ? AdamOptions::AdamW() : AdamOptions();
      options.beta1 = DESCENT_OR(c, beta1, options.beta1);
      options.beta2 = DESCENT_OR(c, beta2, options.beta2);
      options.eps = DESCENT_OR(c, eps, options.eps);
      options.weight_decay = DESCENT_OR(c, weight_decay, options.weight_decay);
      return Named(decoupled ? "adamw" : "adam",
                   AdamOptimizer::Create(size, schedule, options));
    }
    default: {
      const v1::FtrlConfig& c = config.ftrl();
      FtrlOptions options;
      options.beta = DESCENT_OR(c, beta, options.beta);
      options.l1 = c.l1();
      options.l2 = c.l2();
      options.learning_rate_power =
          DESCENT_OR(c, learning_rate_power, options.learning_rate_power);
      return Named("ftrl", FtrlOptimizer::Create(size, schedule, options));
    }
  }
}

#undef DESCENT_OR

}  // namespace descent
