#include "common/optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

// Element loops keep torch's float32 order of operations: each tensor op in
// torch.optim rounds to float, with its Python-double scalars cast to float.
namespace descent {
namespace {

constexpr char kInUnit[] = "in [0, 1)";
constexpr char kPositive[] = "a finite number > 0";
constexpr char kNonNegative[] = "a finite number >= 0";

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

// The update of a rule with one per-parameter state value over [0, n):
// `element(g, state, param)` updates one parameter and its state in place.
// In place, and from one set of buffers into another; templates, so that
// the element is inlined and the loops vectorize.
template <typename Element>
void OneStateLoop(const float* __restrict grad, int64_t n,
                  float* __restrict state, float* __restrict params,
                  Element element) {
  for (int64_t i = 0; i < n; ++i) element(grad[i], state[i], params[i]);
}

template <typename Element>
void OneStateLoopInto(const float* __restrict grad, int64_t n,
                      const float* __restrict state_in,
                      const float* __restrict from, float* __restrict state_out,
                      float* __restrict to, Element element) {
  for (int64_t i = 0; i < n; ++i) {
    float state = state_in[i], p = from[i];
    element(grad[i], state, p);
    state_out[i] = state;
    to[i] = p;
  }
}

// Apply (from == to) or ApplyInto of a one-state rule.
template <typename Element>
void OneStateRun(const float* grad, int64_t n, const float* state_in,
                 const float* from, float* state_out, float* to,
                 Element element) {
  if (from == to) {
    OneStateLoop(grad, n, state_out, to, element);
  } else {
    OneStateLoopInto(grad, n, state_in, from, state_out, to, element);
  }
}

}  // namespace

std::vector<NamedTensor> Optimizer::State(const std::string& prefix) const {
  std::vector<NamedTensor> state;
  for (const Buffer& buffer : const_cast<Optimizer*>(this)->Buffers()) {
    NamedTensor t;
    t.name = prefix + buffer.name;
    if (buffer.f32 != nullptr) {
      t.dtype = "F32";
      t.f32 = *buffer.f32;
      t.shape = {static_cast<int64_t>(t.f32.size())};
    } else {
      t.dtype = "U64";
      t.u64.assign(buffer.i32->begin(), buffer.i32->end());
      t.shape = {static_cast<int64_t>(t.u64.size())};
    }
    state.push_back(std::move(t));
  }
  return state;
}

absl::Status Optimizer::Restore(const std::vector<NamedTensor>& tensors,
                                const std::string& prefix) {
  const std::vector<Buffer> buffers = Buffers();
  std::vector<const NamedTensor*> found;
  for (const Buffer& buffer : buffers) {
    const std::string name = prefix + buffer.name;
    auto it =
        std::find_if(tensors.begin(), tensors.end(),
                     [&name](const NamedTensor& t) { return t.name == name; });
    const char* dtype = buffer.f32 != nullptr ? "F32" : "U64";
    if (it == tensors.end() || it->dtype != dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state ", name, ": missing, or not ", dtype));
    }
    const size_t size = buffer.f32 != nullptr ? it->f32.size() : it->u64.size();
    const size_t first = found.empty()              ? size
                         : found[0]->dtype == "F32" ? found[0]->f32.size()
                                                    : found[0]->u64.size();
    if (size != first) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state ", name, ": ", size,
                       " values, the others have ", first));
    }
    found.push_back(&*it);
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (buffers[i].f32 != nullptr) {
      *buffers[i].f32 = found[i]->f32;
    } else {
      buffers[i].i32->assign(found[i]->u64.begin(), found[i]->u64.end());
    }
  }
  return absl::OkStatus();
}

void SgdOptimizer::Apply(int64_t /*position*/, const float* grad, int64_t n,
                         int64_t /*version*/, float* params) {
  Eigen::Map<Eigen::ArrayXf> p(params, n);
  Eigen::Map<const Eigen::ArrayXf> g(grad, n);
  p -= learning_rate_ * g;
}

void SgdOptimizer::ApplyInto(int64_t /*position*/, const float* grad, int64_t n,
                             int64_t /*version*/, const float* from, float* to,
                             const std::vector<Buffer>& /*next*/) {
  Eigen::Map<Eigen::ArrayXf> p(to, n);
  Eigen::Map<const Eigen::ArrayXf> g(grad, n), old(from, n);
  p = old - learning_rate_ * g;
}

// --- Momentum ---------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> MomentumOptimizer::Create(
    int64_t size, LearningRateSchedule lr, MomentumOptions options) {
  if (auto problem = FindProblem(options)) return InvalidArgument(*problem);
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
  Step(position, grad, n, version, params, params, velocity_.data() + position);
}

void MomentumOptimizer::ApplyInto(int64_t position, const float* grad,
                                  int64_t n, int64_t version, const float* from,
                                  float* to, const std::vector<Buffer>& next) {
  Step(position, grad, n, version, from, to, next[0].f32->data() + position);
}

void MomentumOptimizer::Step(int64_t position, const float* grad, int64_t n,
                             int64_t version, const float* from, float* to,
                             float* velocity_out) {
  CheckRange(position, n, velocity_.size());
  const float lr = static_cast<float>(lr_.At(version));
  const float mu = static_cast<float>(options_.momentum);
  const bool nesterov = options_.nesterov;
  OneStateRun(grad, n, velocity_.data() + position, from, velocity_out, to,
              [=](float g, float& v, float& p) {
                v = v * mu + g;
                const float step = nesterov ? g + mu * v : v;
                p += -lr * step;
              });
}

// --- Adagrad ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> AdagradOptimizer::Create(
    int64_t size, LearningRateSchedule lr, AdagradOptions options) {
  if (auto problem = FindProblem(options)) return InvalidArgument(*problem);
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
  Step(position, grad, n, version, params, params, sum_.data() + position);
}

void AdagradOptimizer::ApplyInto(int64_t position, const float* grad, int64_t n,
                                 int64_t version, const float* from, float* to,
                                 const std::vector<Buffer>& next) {
  Step(position, grad, n, version, from, to, next[0].f32->data() + position);
}

void AdagradOptimizer::Step(int64_t position, const float* grad, int64_t n,
                            int64_t version, const float* from, float* to,
                            float* sum_out) {
  CheckRange(position, n, sum_.size());
  const float lr = static_cast<float>(lr_.At(version));
  const float eps = static_cast<float>(options_.eps);
  OneStateRun(grad, n, sum_.data() + position, from, sum_out, to,
              [=](float g, float& sum, float& p) {
                sum += g * g;
                p += -lr * g / (std::sqrt(sum) + eps);
              });
}

// --- RMSprop ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> RmspropOptimizer::Create(
    int64_t size, LearningRateSchedule lr, RmspropOptions options) {
  if (auto problem = FindProblem(options)) return InvalidArgument(*problem);
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
  Step(position, grad, n, version, params, params,
       square_avg_.data() + position);
}

void RmspropOptimizer::ApplyInto(int64_t position, const float* grad, int64_t n,
                                 int64_t version, const float* from, float* to,
                                 const std::vector<Buffer>& next) {
  Step(position, grad, n, version, from, to, next[0].f32->data() + position);
}

void RmspropOptimizer::Step(int64_t position, const float* grad, int64_t n,
                            int64_t version, const float* from, float* to,
                            float* square_avg_out) {
  CheckRange(position, n, square_avg_.size());
  const float lr = static_cast<float>(lr_.At(version));
  const float alpha = static_cast<float>(options_.alpha);
  const float one_minus_alpha = static_cast<float>(1 - options_.alpha);
  const float eps = static_cast<float>(options_.eps);
  OneStateRun(grad, n, square_avg_.data() + position, from, square_avg_out, to,
              [=](float g, float& sq, float& p) {
                sq = sq * alpha + one_minus_alpha * g * g;
                p += -lr * g / (std::sqrt(sq) + eps);
              });
}

// --- Adam / AdamW -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> AdamOptimizer::Create(
    int64_t size, LearningRateSchedule lr, AdamOptions options) {
  if (auto problem = FindProblem(options)) return InvalidArgument(*problem);
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

namespace {

// Parameters per pass of Adam's update: the step counts of a chunk are
// checked first, while the chunk is in cache.
constexpr int64_t kAdamChunk = 2048;

struct AdamConstants {
  float decay;  // 1 - lr * weight_decay, or exactly 1 without decay
  float b1, b2, one_minus_b1, one_minus_b2, eps;
};

// One parameter's Adam step at bias corrections `step_size` and `bc2_sqrt`,
// for every loop below alike.
inline void AdamElement(float g, const AdamConstants& c, float step_size,
                        float bc2_sqrt, float& m, float& v, float& p) {
  p *= c.decay;
  m = m * c.b1 + c.one_minus_b1 * g;
  v = v * c.b2 + c.one_minus_b2 * g * g;
  const float denom = std::sqrt(v) / bc2_sqrt + c.eps;
  p += -step_size * m / denom;
}

// Adam steps of [0, n) whose parameters all reach the same step count, so
// that the bias corrections are constants and the loops vectorize: in
// place, and from one set of buffers into another.
void AdamUniformStep(const float* __restrict grad, int64_t n,
                     const AdamConstants& c, float step_size, float bc2_sqrt,
                     float* __restrict m, float* __restrict v,
                     int32_t* __restrict steps, float* __restrict params) {
  for (int64_t i = 0; i < n; ++i) {
    ++steps[i];
    AdamElement(grad[i], c, step_size, bc2_sqrt, m[i], v[i], params[i]);
  }
}

void AdamUniformStepInto(const float* __restrict grad, int64_t n,
                         const AdamConstants& c, float step_size,
                         float bc2_sqrt, const float* __restrict m_in,
                         const float* __restrict v_in,
                         const int32_t* __restrict steps_in,
                         const float* __restrict from, float* __restrict m_out,
                         float* __restrict v_out, int32_t* __restrict steps_out,
                         float* __restrict to) {
  for (int64_t i = 0; i < n; ++i) {
    steps_out[i] = steps_in[i] + 1;
    float m = m_in[i], v = v_in[i], p = from[i];
    AdamElement(grad[i], c, step_size, bc2_sqrt, m, v, p);
    m_out[i] = m;
    v_out[i] = v;
    to[i] = p;
  }
}

}  // namespace

void AdamOptimizer::Apply(int64_t position, const float* grad, int64_t n,
                          int64_t version, float* params) {
  Step(position, grad, n, version, params, params, m_.data() + position,
       v_.data() + position, steps_.data() + position);
}

void AdamOptimizer::ApplyInto(int64_t position, const float* grad, int64_t n,
                              int64_t version, const float* from, float* to,
                              const std::vector<Buffer>& next) {
  Step(position, grad, n, version, from, to, next[0].f32->data() + position,
       next[1].f32->data() + position, next[2].i32->data() + position);
}

void AdamOptimizer::Step(int64_t position, const float* grad, int64_t n,
                         int64_t version, const float* from, float* to,
                         float* m_out, float* v_out, int32_t* steps_out) {
  CheckRange(position, n, m_.size());
  const double lr = lr_.At(version);
  const double b1 = options_.beta1, b2 = options_.beta2;
  AdamConstants c;
  // 1 exactly without weight decay, so that multiplying by it changes
  // nothing.
  c.decay = options_.weight_decay != 0
                ? static_cast<float>(1 - lr * options_.weight_decay)
                : 1.0f;
  c.b1 = static_cast<float>(b1);
  c.b2 = static_cast<float>(b2);
  c.one_minus_b1 = static_cast<float>(1 - b1);
  c.one_minus_b2 = static_cast<float>(1 - b2);
  c.eps = static_cast<float>(options_.eps);
  const bool in_place = from == to;
  const float* m_in = m_.data() + position;
  const float* v_in = v_.data() + position;
  const int32_t* steps_in = steps_.data() + position;
  // Per-parameter bias correction, in double as torch computes it. A dense
  // slice shares one step count, so a chunk whose parameters all do takes
  // the vectorized loop with the powers computed once; otherwise (sparse
  // rows first updated at different times) they are recomputed only where
  // the count changes (they cost more than the rest of the update).
  auto step_size_at = [&](int32_t t) {
    return static_cast<float>(lr / (1 - std::pow(b1, t)));
  };
  auto bc2_sqrt_at = [&](int32_t t) {
    return static_cast<float>(std::sqrt(1 - std::pow(b2, t)));
  };
  int32_t last_t = -1;
  float step_size = 0, bc2_sqrt = 1;
  for (int64_t start = 0; start < n; start += kAdamChunk) {
    const int64_t len = std::min(kAdamChunk, n - start);
    const int32_t* s = steps_in + start;
    const int32_t first = s[0];
    int32_t differ = 0;
    for (int64_t i = 0; i < len; ++i) differ |= s[i] ^ first;
    if (differ == 0) {
      const int32_t t = first + 1;
      if (t != last_t) {
        step_size = step_size_at(t);
        bc2_sqrt = bc2_sqrt_at(t);
        last_t = t;
      }
      if (in_place) {
        AdamUniformStep(grad + start, len, c, step_size, bc2_sqrt,
                        m_out + start, v_out + start, steps_out + start,
                        to + start);
      } else {
        AdamUniformStepInto(grad + start, len, c, step_size, bc2_sqrt,
                            m_in + start, v_in + start, steps_in + start,
                            from + start, m_out + start, v_out + start,
                            steps_out + start, to + start);
      }
      continue;
    }
    for (int64_t i = start; i < start + len; ++i) {
      const int32_t t = steps_in[i] + 1;
      if (t != last_t) {
        step_size = step_size_at(t);
        bc2_sqrt = bc2_sqrt_at(t);
        last_t = t;
      }
      float m = m_in[i], v = v_in[i], p = from[i];
      AdamElement(grad[i], c, step_size, bc2_sqrt, m, v, p);
      steps_out[i] = t;
      m_out[i] = m;
      v_out[i] = v;
      to[i] = p;
    }
  }
}

// --- FTRL-Proximal ----------------------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> FtrlOptimizer::Create(
    int64_t size, LearningRateSchedule lr, FtrlOptions options) {
  if (auto problem = FindProblem(options)) return InvalidArgument(*problem);
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

namespace {

struct FtrlConstants {
  double inv_alpha, l1, l2, beta;
};

// One coordinate's FTRL-Proximal step with n^-learning_rate_power computed
// by `power`. In double, as McMahan et al. write it, with 1 / alpha taken
// once (the products round within double's last bit, far below the float
// results).
template <typename Power>
inline void FtrlElement(float grad, const FtrlConstants& c, Power power,
                        float& z, float& acc, float& w) {
  const double g = grad;
  const double n_old = acc;
  const double n_new = n_old + g * g;
  const double root_new = power(n_new);
  const double sigma = (root_new - power(n_old)) * c.inv_alpha;
  const double z_new = z + g - sigma * w;
  z = static_cast<float>(z_new);
  acc = static_cast<float>(n_new);
  const double sign = z_new < 0 ? -1.0 : 1.0;
  const double w_new =
      -(z_new - sign * c.l1) / ((c.beta + root_new) * c.inv_alpha + c.l2);
  w = static_cast<float>(std::abs(z_new) <= c.l1 ? 0.0 : w_new);
}

// FTRL's update of [0, n), in place and from one set of buffers into
// another: templates, so that the common power (-0.5, a square root) is
// inlined and the loops vectorize.
template <typename Power>
void FtrlLoop(const float* __restrict grad, int64_t n, const FtrlConstants& c,
              Power power, float* __restrict z, float* __restrict acc,
              float* __restrict params) {
  for (int64_t i = 0; i < n; ++i) {
    FtrlElement(grad[i], c, power, z[i], acc[i], params[i]);
  }
}

template <typename Power>
void FtrlLoopInto(const float* __restrict grad, int64_t n,
                  const FtrlConstants& c, Power power,
                  const float* __restrict z_in, const float* __restrict acc_in,
                  const float* __restrict from, float* __restrict z_out,
                  float* __restrict acc_out, float* __restrict to) {
  for (int64_t i = 0; i < n; ++i) {
    float z = z_in[i], acc = acc_in[i], w = from[i];
    FtrlElement(grad[i], c, power, z, acc, w);
    z_out[i] = z;
    acc_out[i] = acc;
    to[i] = w;
  }
}

}  // namespace

void FtrlOptimizer::Apply(int64_t position, const float* grad, int64_t n,
                          int64_t version, float* params) {
  Step(position, grad, n, version, params, params, z_.data() + position,
       n_.data() + position);
}

void FtrlOptimizer::ApplyInto(int64_t position, const float* grad, int64_t n,
                              int64_t version, const float* from, float* to,
                              const std::vector<Buffer>& next) {
  Step(position, grad, n, version, from, to, next[0].f32->data() + position,
       next[1].f32->data() + position);
}

void FtrlOptimizer::Step(int64_t position, const float* grad, int64_t n,
                         int64_t version, const float* from, float* to,
                         float* z_out, float* acc_out) {
  CheckRange(position, n, z_.size());
  const FtrlConstants c{1 / lr_.At(version), options_.l1, options_.l2,
                        options_.beta};
  const float* z_in = z_.data() + position;
  const float* acc_in = n_.data() + position;
  auto run = [&](auto power) {
    if (from == to) {
      FtrlLoop(grad, n, c, power, z_out, acc_out, to);
    } else {
      FtrlLoopInto(grad, n, c, power, z_in, acc_in, from, z_out, acc_out, to);
    }
  };
  if (options_.learning_rate_power == -0.5) {
    run([](double x) { return std::sqrt(x); });
  } else {
    const double exponent = -options_.learning_rate_power;
    run([exponent](double x) { return std::pow(x, exponent); });
  }
}

// --- FedAdam, FedYogi, FedAdagrad
// ---------------------------------------------

absl::StatusOr<std::unique_ptr<Optimizer>> FedOptOptimizer::Create(
    int64_t size, LearningRateSchedule lr, FedOptOptions options) {
  if (auto problem = FindProblem(options)) return InvalidArgument(*problem);
  return std::unique_ptr<Optimizer>(
      new FedOptOptimizer(size, std::move(lr), options));
}

FedOptOptimizer::FedOptOptimizer(int64_t size, LearningRateSchedule lr,
                                 FedOptOptions options)
    : lr_(std::move(lr)), options_(options) {
  Grow(size);
}

void FedOptOptimizer::Grow(int64_t size) {
  GrowTo(m_, size);
  const auto tau = static_cast<float>(options_.tau);
  GrowTo(v_, size, tau * tau);
}

int64_t FedOptOptimizer::state_bytes() const { return Bytes(m_) + Bytes(v_); }

void FedOptOptimizer::Apply(int64_t position, const float* grad, int64_t n,
                            int64_t version, float* params) {
  Step(position, grad, n, version, params, params, m_.data() + position,
       v_.data() + position);
}

void FedOptOptimizer::ApplyInto(int64_t position, const float* grad, int64_t n,
                                int64_t version, const float* from, float* to,
                                const std::vector<Buffer>& next) {
  Step(position, grad, n, version, from, to, next[0].f32->data() + position,
       next[1].f32->data() + position);
}

void FedOptOptimizer::Step(int64_t position, const float* grad, int64_t n,
                           int64_t version, const float* from, float* to,
                           float* m_out, float* v_out) {
  CheckRange(position, n, m_.size());
  const auto lr = static_cast<float>(lr_.At(version));
  const auto b1 = static_cast<float>(options_.beta1);
  const auto one_minus_b1 = static_cast<float>(1 - options_.beta1);
  const auto b2 = static_cast<float>(options_.beta2);
  const auto one_minus_b2 = static_cast<float>(1 - options_.beta2);
  const auto tau = static_cast<float>(options_.tau);
  const float* m_in = m_.data() + position;
  const float* v_in = v_.data() + position;
  auto run = [&](auto second_moment) {
    for (int64_t i = 0; i < n; ++i) {
      const float g = grad[i];
      const float m = b1 * m_in[i] + one_minus_b1 * g;
      const float v = second_moment(v_in[i], g * g);
      m_out[i] = m;
      v_out[i] = v;
      to[i] = from[i] - lr * m / (std::sqrt(v) + tau);
    }
  };
  switch (options_.kind) {
    case FedOptOptions::Kind::kAdagrad:
      run([](float v, float g2) { return v + g2; });
      break;
    case FedOptOptions::Kind::kYogi:
      run([=](float v, float g2) {
        const float d = v - g2;
        const float sign = d > 0 ? 1.0f : (d < 0 ? -1.0f : 0.0f);
        return v - one_minus_b2 * g2 * sign;
      });
      break;
    case FedOptOptions::Kind::kAdam:
      run([=](float v, float g2) { return b2 * v + one_minus_b2 * g2; });
      break;
  }
}

// --- Validation --------------------------------------------------------------

std::optional<FieldProblem> FindProblem(const MomentumOptions& o) {
  return Require(InUnit(o.momentum), "momentum", kInUnit, o.momentum);
}

std::optional<FieldProblem> FindProblem(const AdagradOptions& o) {
  return First({Require(Positive(o.eps), "eps", kPositive, o.eps),
                Require(NonNegative(o.initial_accumulator_value),
                        "initial_accumulator_value", kNonNegative,
                        o.initial_accumulator_value)});
}

std::optional<FieldProblem> FindProblem(const RmspropOptions& o) {
  return First({Require(InUnit(o.alpha), "alpha", kInUnit, o.alpha),
                Require(Positive(o.eps), "eps", kPositive, o.eps)});
}

std::optional<FieldProblem> FindProblem(const AdamOptions& o) {
  return First({Require(InUnit(o.beta1), "beta1", kInUnit, o.beta1),
                Require(InUnit(o.beta2), "beta2", kInUnit, o.beta2),
                Require(Positive(o.eps), "eps", kPositive, o.eps),
                Require(NonNegative(o.weight_decay), "weight_decay",
                        kNonNegative, o.weight_decay)});
}

std::optional<FieldProblem> FindProblem(const FedOptOptions& o) {
  return First({Require(InUnit(o.beta1), "beta1", kInUnit, o.beta1),
                Require(InUnit(o.beta2), "beta2", kInUnit, o.beta2),
                Require(Positive(o.tau), "tau", kPositive, o.tau)});
}

std::optional<FieldProblem> FindProblem(const FtrlOptions& o) {
  return First({Require(NonNegative(o.beta), "beta", kNonNegative, o.beta),
                Require(NonNegative(o.l1), "l1", kNonNegative, o.l1),
                Require(NonNegative(o.l2), "l2", kNonNegative, o.l2),
                Require(std::isfinite(o.learning_rate_power) &&
                            o.learning_rate_power <= 0,
                        "learning_rate_power", "a finite number <= 0",
                        o.learning_rate_power)});
}

}  // namespace descent
