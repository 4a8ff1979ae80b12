// The server-side update rule applied by a parameter shard.
//
// An Optimizer owns the per-parameter state it needs (none for plain SGD;
// moments and accumulators for the others) for one contiguous slice of the
// parameter vector, so each shard holds exactly the state of the parameters
// it owns. State is sized at construction and by Grow(); Apply() never
// allocates. Not thread-safe: the shard calls it under its own lock.
//
// The adaptive rules match torch.optim (1.13) element for element, including
// where eps goes; the learning rate of each update comes from a
// LearningRateSchedule evaluated at `version`. Build them with their
// Create() functions, which validate the options: FindProblem(options)
// names the field and what is wrong with it, and Create() returns that as
// INVALID_ARGUMENT "field: problem". The options' defaults are job.proto's
// (common/defaults.h).
#ifndef DESCENT_COMMON_OPTIM_OPTIMIZER_H_
#define DESCENT_COMMON_OPTIM_OPTIMIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/defaults.h"
#include "common/field_problem.h"
#include "common/optim/schedule.h"
#include "common/storage/safetensors.h"
#include "descent/v1/job.pb.h"

namespace descent {

// What an update changed, so that it can be taken back: Optimizer::Save
// copies the parameters and the per-parameter state an update is about to
// change, and Optimizer::Undo puts back everything saved since Clear().
// An update of a whole parameter vector and state (ApplyFinite) is written
// out of place instead, into the log's spare vectors, which are then
// swapped in: the log then holds the state as it was, and Undo swaps it
// back. Its buffers keep their capacity between updates. Not thread-safe.
class UndoLog {
 public:
  void Clear();
  // Bytes held (capacity), for the shard's memory metric.
  int64_t bytes() const;

 private:
  friend class Optimizer;
  struct Range {
    std::vector<float>* params;  // the parameters' vector, and the index
    int64_t index;               // of the first saved one in it
    int64_t position;            // of the first saved state element
    int64_t n;
  };
  std::vector<Range> ranges_;
  std::vector<float> f32_;
  std::vector<int32_t> i32_;
  // The out-of-place update's spares: parameters, then one vector per
  // state buffer (Optimizer::Buffers() order; the unused one of each pair
  // stays empty). `swapped_` is the parameters' vector they were swapped
  // with since Clear(), or null.
  std::vector<float> spare_params_;
  std::vector<std::vector<float>> spare_f32_;
  std::vector<std::vector<int32_t>> spare_i32_;
  std::vector<float>* swapped_ = nullptr;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Updates params[i] for i in [0, n) from grad[i]. `position` is the
  // index of params[0] within the optimizer's slice (for per-parameter
  // state); `version` counts updates already applied to the slice (the
  // global step). Requires position + n <= the current size.
  virtual void Apply(int64_t position, const float* grad, int64_t n,
                     int64_t version, float* params) = 0;

  // Extends per-parameter state to `size` parameters, the new state as at
  // construction (zero; Adagrad's initial_accumulator_value), i.e. as if
  // never updated; existing state is kept. Never shrinks. For sparse
  // tables whose rows are appended. No-op for stateless rules.
  virtual void Grow(int64_t /*size*/) {}

  // Bytes of per-parameter state held (capacity of its buffers), for the
  // shard's memory metric. 0 for stateless rules.
  virtual int64_t state_bytes() const { return 0; }

  // The per-parameter state, for checkpoints: one tensor per buffer, named
  // `prefix` + "velocity" (momentum), "sum" (Adagrad), "square_avg"
  // (RMSprop), "m", "v", "steps" (Adam; steps as U64), "z", "n" (FTRL),
  // "m", "v" (the FedOpt rules),
  // each of the current size; none for SGD.
  std::vector<NamedTensor> State(const std::string& prefix) const;

  // Taking an update back, for a shard that must refuse an update whose
  // result is not finite (ApplyFinite below; sparse rows: Save, Apply and
  // FirstNonFinite per row, Undo if one fails).
  // Appends to *log copies of (*params)[index, index + n) and of the state
  // of [position, position + n).
  void Save(int64_t position, int64_t n, std::vector<float>* params,
            int64_t index, UndoLog* log);
  // Restores every range saved in *log since its Clear(), newest first,
  // then clears it.
  void Undo(UndoLog* log);
  // The first i in [0, n) where params[i] or a floating-point state value
  // of position + i is infinite or NaN, or -1 if there is none.
  int64_t FirstNonFinite(int64_t position, int64_t n,
                         const float* params) const;
  // As Apply on (*params)[index, index + n) with the state of position,
  // but all or nothing: if any updated parameter or state value is not
  // finite, everything is as it was. Returns that value's i in [0, n), or
  // -1 when the update was applied. Clears *log first. An update of all of
  // *params and of the whole state is written chunk by chunk into *log's
  // spares and checked while each chunk is in cache, then swapped in (no
  // copy of the old state is made: *params and the state buffers exchange
  // storage with the log); any other is applied in place, each chunk saved
  // in *log first. Either way Undo(log) takes it back. The results are
  // Apply's, bit for bit.
  int64_t ApplyFinite(int64_t position, const float* grad, int64_t n,
                      int64_t version, std::vector<float>* params,
                      int64_t index, UndoLog* log);
  // Shrinks the per-parameter state to `size` (undoing a Grow whose rows
  // were refused). No-op if it is not larger.
  void Truncate(int64_t size);
  // Replaces the state with the tensors State(prefix) of an optimizer of
  // the same rule returned, found by name among `tensors`; the size
  // becomes theirs. INVALID_ARGUMENT naming the tensor if one is missing,
  // of another dtype, or of another size than the first; then nothing
  // changes.
  absl::Status Restore(const std::vector<NamedTensor>& tensors,
                       const std::string& prefix);

 protected:
  // A per-parameter buffer and its name, for State() and Restore(): one of
  // f32 and i32 is set.
  struct Buffer {
    const char* name;
    std::vector<float>* f32 = nullptr;
    std::vector<int32_t>* i32 = nullptr;
  };
  virtual std::vector<Buffer> Buffers() { return {}; }

  // As Apply, but out of place: reads the parameters from `from` and the
  // state from this optimizer's buffers, and writes the new parameters to
  // `to` and the new state to `next` (vectors in Buffers() order, each of
  // at least position + n elements), changing nothing of this optimizer.
  // `to` and `next` overlap nothing that is read. The same float
  // operations as Apply, so the same results bit for bit.
  virtual void ApplyInto(int64_t position, const float* grad, int64_t n,
                         int64_t version, const float* from, float* to,
                         const std::vector<Buffer>& next) = 0;

 private:
  // The size of the per-parameter state, or -1 for a stateless rule.
  int64_t StateSize() const;
  // ApplyFinite's path for a whole parameter vector and state.
  int64_t ApplyOutOfPlace(const float* grad, int64_t n, int64_t version,
                          std::vector<float>* params, UndoLog* log);
  // Exchanges *log->swapped_ and the state buffers with log's spares.
  void SwapIn(UndoLog* log);
  // Buffers(), taken once: the vectors are members, so they stay put.
  const std::vector<Buffer>& CachedBuffers() const;
  mutable std::vector<Buffer> buffers_;
  mutable bool buffers_cached_ = false;
};

// Plain stochastic gradient descent: params -= learning_rate * grad.
class SgdOptimizer : public Optimizer {
 public:
  explicit SgdOptimizer(float learning_rate) : learning_rate_(learning_rate) {}
  void Apply(int64_t position, const float* grad, int64_t n, int64_t version,
             float* params) override;

 protected:
  void ApplyInto(int64_t position, const float* grad, int64_t n,
                 int64_t version, const float* from, float* to,
                 const std::vector<Buffer>& next) override;

 private:
  const float learning_rate_;
};

// torch.optim.SGD with momentum, dampening 0: v = mu * v + g, then
// p -= lr * v, or with nesterov p -= lr * (g + mu * v).
struct MomentumOptions {
  double momentum = defaults::kMomentum;  // mu in [0, 1)
  bool nesterov = false;
};
class MomentumOptimizer : public Optimizer {
 public:
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      int64_t size, LearningRateSchedule lr, MomentumOptions options = {});
  void Apply(int64_t position, const float* grad, int64_t n, int64_t version,
             float* params) override;
  void Grow(int64_t size) override;
  int64_t state_bytes() const override;

 protected:
  void ApplyInto(int64_t position, const float* grad, int64_t n,
                 int64_t version, const float* from, float* to,
                 const std::vector<Buffer>& next) override;
  std::vector<Buffer> Buffers() override { return {{"velocity", &velocity_}}; }

 private:
  MomentumOptimizer(int64_t size, LearningRateSchedule lr,
                    MomentumOptions options);
  // Apply and ApplyInto, as AdamOptimizer::Step.
  void Step(int64_t position, const float* grad, int64_t n, int64_t version,
            const float* from, float* to, float* velocity_out);
  const LearningRateSchedule lr_;
  const MomentumOptions options_;
  std::vector<float> velocity_;
};

// torch.optim.Adagrad (lr_decay 0; decay the rate with the schedule):
// sum += g^2; p -= lr * g / (sqrt(sum) + eps).
struct AdagradOptions {
  double eps = defaults::kAdagradEps;    // > 0
  double initial_accumulator_value = 0;  // >= 0; also the value Grow() gives
};
class AdagradOptimizer : public Optimizer {
 public:
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      int64_t size, LearningRateSchedule lr, AdagradOptions options = {});
  void Apply(int64_t position, const float* grad, int64_t n, int64_t version,
             float* params) override;
  void Grow(int64_t size) override;
  int64_t state_bytes() const override;

 protected:
  void ApplyInto(int64_t position, const float* grad, int64_t n,
                 int64_t version, const float* from, float* to,
                 const std::vector<Buffer>& next) override;
  std::vector<Buffer> Buffers() override { return {{"sum", &sum_}}; }

 private:
  AdagradOptimizer(int64_t size, LearningRateSchedule lr,
                   AdagradOptions options);
  // Apply and ApplyInto, as AdamOptimizer::Step.
  void Step(int64_t position, const float* grad, int64_t n, int64_t version,
            const float* from, float* to, float* sum_out);
  const LearningRateSchedule lr_;
  const AdagradOptions options_;
  std::vector<float> sum_;
};

// torch.optim.RMSprop, no momentum, not centered:
// sq = alpha * sq + (1 - alpha) * g^2; p -= lr * g / (sqrt(sq) + eps).
struct RmspropOptions {
  double alpha = defaults::kRmspropAlpha;  // in [0, 1)
  double eps = defaults::kRmspropEps;      // > 0
};
class RmspropOptimizer : public Optimizer {
 public:
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      int64_t size, LearningRateSchedule lr, RmspropOptions options = {});
  void Apply(int64_t position, const float* grad, int64_t n, int64_t version,
             float* params) override;
  void Grow(int64_t size) override;
  int64_t state_bytes() const override;

 protected:
  void ApplyInto(int64_t position, const float* grad, int64_t n,
                 int64_t version, const float* from, float* to,
                 const std::vector<Buffer>& next) override;
  std::vector<Buffer> Buffers() override {
    return {{"square_avg", &square_avg_}};
  }

 private:
  RmspropOptimizer(int64_t size, LearningRateSchedule lr,
                   RmspropOptions options);
  // Apply and ApplyInto, as AdamOptimizer::Step.
  void Step(int64_t position, const float* grad, int64_t n, int64_t version,
            const float* from, float* to, float* square_avg_out);
  const LearningRateSchedule lr_;
  const RmspropOptions options_;
  std::vector<float> square_avg_;
};

// torch.optim.Adam / AdamW (amsgrad off). With step t counted per
// parameter (the number of times that parameter was updated, including
// this one), as torch does:
//   [AdamW only] p *= 1 - lr * weight_decay
//   m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// A per-parameter t keeps bias correction right for sparse rows updated
// lazily; for a dense slice it equals version + 1.
struct AdamOptions {
  double beta1 = defaults::kAdamBeta1;  // in [0, 1)
  double beta2 = defaults::kAdamBeta2;  // in [0, 1)
  double eps = defaults::kAdamEps;      // > 0
  // Decoupled weight decay (AdamW); 0 is plain Adam. torch.optim.AdamW's
  // default is 0.01: see AdamOptions::AdamW().
  double weight_decay = defaults::kAdamWeightDecay;  // >= 0
  static AdamOptions AdamW() {
    AdamOptions options;
    options.weight_decay = defaults::kAdamwWeightDecay;
    return options;
  }
};
class AdamOptimizer : public Optimizer {
 public:
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      int64_t size, LearningRateSchedule lr, AdamOptions options = {});
  void Apply(int64_t position, const float* grad, int64_t n, int64_t version,
             float* params) override;
  void Grow(int64_t size) override;
  int64_t state_bytes() const override;

 protected:
  void ApplyInto(int64_t position, const float* grad, int64_t n,
                 int64_t version, const float* from, float* to,
                 const std::vector<Buffer>& next) override;
  std::vector<Buffer> Buffers() override {
    return {{"m", &m_}, {"v", &v_}, {"steps", nullptr, &steps_}};
  }

 private:
  AdamOptimizer(int64_t size, LearningRateSchedule lr, AdamOptions options);
  // Apply (from == to, the outputs this optimizer's own state) and
  // ApplyInto: reads from `from` and this optimizer's state at `position`,
  // writes to `to` and the outputs.
  void Step(int64_t position, const float* grad, int64_t n, int64_t version,
            const float* from, float* to, float* m_out, float* v_out,
            int32_t* steps_out);
  const LearningRateSchedule lr_;
  const AdamOptions options_;
  std::vector<float> m_;
  std::vector<float> v_;
  std::vector<int32_t> steps_;
};

// FTRL-Proximal (McMahan et al., "Ad Click Prediction", KDD 2013,
// Algorithm 1), per coordinate, for sparse models. alpha is the schedule's
// rate at `version`; with p = -learning_rate_power (0.5 in the paper):
//   sigma = (n_new^p - n^p) / alpha;  z += g - sigma * w;  n = n_new
//   w = 0                                          if |z| <= l1
//   w = -(z - sign(z) l1) / ((beta + n^p) / alpha + l2)   otherwise
// where n_new = n + g^2 and w is the parameter's current value.
struct FtrlOptions {
  double beta = defaults::kFtrlBeta;                              // >= 0
  double l1 = 0.0;                                                // >= 0
  double l2 = 0.0;                                                // >= 0
  double learning_rate_power = defaults::kFtrlLearningRatePower;  // <= 0
};
class FtrlOptimizer : public Optimizer {
 public:
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      int64_t size, LearningRateSchedule lr, FtrlOptions options = {});
  void Apply(int64_t position, const float* grad, int64_t n, int64_t version,
             float* params) override;
  void Grow(int64_t size) override;
  int64_t state_bytes() const override;

 protected:
  void ApplyInto(int64_t position, const float* grad, int64_t n,
                 int64_t version, const float* from, float* to,
                 const std::vector<Buffer>& next) override;
  std::vector<Buffer> Buffers() override { return {{"z", &z_}, {"n", &n_}}; }

 private:
  FtrlOptimizer(int64_t size, LearningRateSchedule lr, FtrlOptions options);
  // Apply and ApplyInto, as AdamOptimizer::Step.
  void Step(int64_t position, const float* grad, int64_t n, int64_t version,
            const float* from, float* to, float* z_out, float* acc_out);
  const LearningRateSchedule lr_;
  const FtrlOptions options_;
  std::vector<float> z_;
  std::vector<float> n_;
};

// Reddi et al. 2021 ("Adaptive Federated Optimization", Algorithm 2), the
// server optimizers of federated jobs, with g the pseudo-gradient (minus
// the round's averaged model delta):
//   m = b1 * m + (1 - b1) * g
//   ADAGRAD: v = v + g^2
//   YOGI:    v = v - (1 - b2) * g^2 * sign(v - g^2)
//   ADAM:    v = b2 * v + (1 - b2) * g^2
//   p -= lr * m / (sqrt(v) + tau)
// m starts at 0 and v at tau^2 (Grow too); no bias correction.
struct FedOptOptions {
  enum class Kind { kAdam, kYogi, kAdagrad };
  Kind kind = Kind::kAdam;
  double beta1 = defaults::kFedOptBeta1;  // in [0, 1)
  double beta2 = defaults::kFedOptBeta2;  // in [0, 1); unread by ADAGRAD
  double tau = defaults::kFedOptTau;      // > 0
};
class FedOptOptimizer : public Optimizer {
 public:
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      int64_t size, LearningRateSchedule lr, FedOptOptions options = {});
  void Apply(int64_t position, const float* grad, int64_t n, int64_t version,
             float* params) override;
  void Grow(int64_t size) override;
  int64_t state_bytes() const override;

 protected:
  void ApplyInto(int64_t position, const float* grad, int64_t n,
                 int64_t version, const float* from, float* to,
                 const std::vector<Buffer>& next) override;
  std::vector<Buffer> Buffers() override { return {{"m", &m_}, {"v", &v_}}; }

 private:
  FedOptOptimizer(int64_t size, LearningRateSchedule lr, FedOptOptions options);
  void Step(int64_t position, const float* grad, int64_t n, int64_t version,
            const float* from, float* to, float* m_out, float* v_out);
  const LearningRateSchedule lr_;
  const FedOptOptions options_;
  std::vector<float> m_;
  std::vector<float> v_;
};

// The first rule each options struct breaks, its field named as in the
// struct ("beta2"), or nullopt if Create() accepts it.
std::optional<FieldProblem> FindProblem(const MomentumOptions& options);
std::optional<FieldProblem> FindProblem(const AdagradOptions& options);
std::optional<FieldProblem> FindProblem(const RmspropOptions& options);
std::optional<FieldProblem> FindProblem(const AdamOptions& options);
std::optional<FieldProblem> FindProblem(const FtrlOptions& options);
std::optional<FieldProblem> FindProblem(const FedOptOptions& options);

// The functions below take a JobConfig's `optimizer`; absent fields take
// their documented defaults (ApplyOptimizerDefaults, below).

// Fills the chosen optimizer's absent fields, and those of the schedule
// that its kind reads, from common/defaults.h (ApplyDefaults' part for
// `optimizer`, common/config/config.h). Nothing if none is chosen.
void ApplyOptimizerDefaults(v1::OptimizerConfig* optimizer);

// The first rule `config` breaks, its field a path from the JobConfig:
// "optimizer" when none is chosen, "optimizer.adam.learning_rate",
// "optimizer.momentum.momentum", "optimizer.schedule.period". nullopt if
// CreateOptimizer and LearningRateScheduleOf succeed.
std::optional<FieldProblem> FindOptimizerProblem(
    const v1::OptimizerConfig& config);

// The learning-rate schedule of `config`: its kind, peaking at the chosen
// optimizer's learning_rate. The same schedule CreateOptimizer uses;
// INVALID_ARGUMENT "field: problem" for FindOptimizerProblem's problem.
absl::StatusOr<LearningRateSchedule> LearningRateScheduleOf(
    const v1::OptimizerConfig& config);

// The chosen optimizer's learning_rate, its default if unset (0 if none is
// chosen).
double ChosenLearningRate(const v1::OptimizerConfig& config);

// The optimizer `config` describes, for a slice of `size` parameters.
// INVALID_ARGUMENT "field: problem" for FindOptimizerProblem's problem.
absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
    const v1::OptimizerConfig& config, int64_t size);

}  // namespace descent

#endif  // DESCENT_COMMON_OPTIM_OPTIMIZER_H_
