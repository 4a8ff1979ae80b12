// EvaluationTracker: the coordinator's bookkeeping of a job's evaluations.
// It keeps
//
//   - the window: training losses and per-layer gradient norms that workers
//     report between two evaluations, whose means the next evaluation
//     carries (train_loss, gradient_norms, gradient_norm);
//   - the schedule: an evaluation falls due every eval_every_steps global
//     steps once the job runs, one for every boundary passed (however late
//     the coordinator learns of the steps; each records the step it saw);
//   - the record: every evaluation, the best one by SelectionLoss (the
//     validation loss, or the test loss without validation data), and what
//     the latest one means for the job:
//       best        its loss beats the best by more than min_delta (or it is
//                   the first);
//       divergence  its loss is not finite, or exceeds max_loss_factor times
//                   the first evaluation's;
//       patience    `patience` evaluations in a row without a new best.
//
// It decides nothing about the job: the Coordinator reads each Outcome and
// moves its state machine (FAILED on divergence, SUCCEEDED early when
// patience runs out while workers still train).
//
// Not thread-safe: the Coordinator owns it and calls it under its mutex.
#ifndef DESCENT_SERVER_COORDINATOR_EVALUATION_TRACKER_H_
#define DESCENT_SERVER_COORDINATOR_EVALUATION_TRACKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/optim/divergence_guard.h"
#include "descent/v1/coordinator.pb.h"

namespace descent {

// The interval when train.eval_every_steps is unset: `total_steps` / 20,
// at least 1, so that a job has about 20 evaluations.
int64_t DefaultEvalEverySteps(int64_t total_steps);

// The loss that early stopping, the best evaluation and the divergence
// guard follow: the validation loss if the evaluation has one, else the
// test loss.
double SelectionLoss(const v1::Evaluation& evaluation);

struct EvaluationTrackerOptions {
  // Global steps between periodic evaluations; 0: none fall due.
  int64_t eval_every_steps = 0;
  // Early stopping: evaluations in a row without a new best after which
  // patience has run out (0: never), and the gain in test loss an
  // evaluation needs over the best to become the new best.
  int patience = 0;
  double min_delta = 0;
  // A test loss diverges if it is not finite or, if this is > 0, exceeds
  // this many times the first evaluation's (DivergenceGuard).
  double max_loss_factor = 0;
};

class EvaluationTracker {
 public:
  // What a recorded evaluation means for the job. At most one of `best`,
  // a non-empty `divergence` and `patience_exhausted` holds.
  struct Outcome {
    // The best evaluation so far: the caller keeps its parameters.
    bool best = false;
    // Why the test loss diverged, as the job's error; empty if it did not.
    // A diverged evaluation is recorded, but is never the best and does not
    // count towards patience.
    std::string divergence;
    // `patience` evaluations in a row, this one included, without a new
    // best. Stays true for every later one without a new best.
    bool patience_exhausted = false;
  };

  explicit EvaluationTracker(EvaluationTrackerOptions options);

  // Adds to the window the training losses and gradient norms that `p`
  // reports beyond `old`: two cumulative progress reports of one worker,
  // `p` not behind `old`. Norms of other layers than the first report's are
  // ignored (every worker trains the same model), as are norms whose layer
  // names and sums do not pair up.
  void AddProgress(const v1::WorkerProgress& old, const v1::WorkerProgress& p);

  // Starts the schedule: the next evaluation falls due at eval_every_steps
  // (a restored job: at the boundary Restore gave). Before, none is due.
  void StartSchedule();
  // A resumed job: records `history` as if each had been recorded in turn
  // (the best, patience and the divergence guard follow), and makes
  // StartSchedule start at `next_step`.
  void Restore(const std::vector<v1::Evaluation>& history, int64_t next_step);
  // The next periodic evaluation's boundary; 0 before the schedule starts.
  int64_t next_step() const { return next_step_; }
  // True if the schedule has started and `global_step` has reached the next
  // periodic evaluation.
  bool Due(int64_t global_step) const;

  // Starts an evaluation at `step`: its step, epoch and wall time as given,
  // and the window's means (train_loss 0 and no gradient norms if nothing
  // was reported). Empties the window. A periodic evaluation (`step` at or
  // past the next boundary) is due at that boundary (due_step) and moves the
  // schedule to the next one only, so every boundary passed gets its own;
  // a `final` one, or one begun before the next boundary, is due at none
  // (due_step 0) and moves the schedule past `step`.
  v1::Evaluation Begin(int64_t step, double epoch, double wall_seconds,
                       bool final = false);

  // Records a finished evaluation (its test figures filled in) and says
  // what it means.
  Outcome Record(const v1::Evaluation& evaluation);

  // Evaluations recorded so far.
  int count() const { return static_cast<int>(evaluations_.size()); }
  // The latest evaluation; null before any.
  const v1::Evaluation* last() const;
  // The evaluation the job reports as its result: with early stopping
  // (patience > 0) the best, whose parameters the job keeps, else (or if
  // none was the best: every one diverged) the last; null before any.
  const v1::Evaluation* result() const;
  bool early_stopping() const { return options_.patience > 0; }
  int64_t eval_every_steps() const { return options_.eval_every_steps; }
  const std::vector<v1::Evaluation>& evaluations() const {
    return evaluations_;
  }

 private:
  void AddGradientNorms(const v1::WorkerProgress& old,
                        const v1::WorkerProgress& p);
  // Moves the window's mean gradient norms into `evaluation`; resets them.
  void TakeGradientNorms(v1::Evaluation* evaluation);
  // The job's error if `evaluation`'s test loss diverges; empty if not.
  std::string Divergence(const v1::Evaluation& evaluation);

  // Constant after construction.
  const EvaluationTrackerOptions options_;

  // The schedule: the step of the next periodic evaluation; 0 before it
  // starts (and always, without periodic evaluations).
  int64_t next_step_ = 0;
  // Where StartSchedule starts (Restore); 0: at eval_every_steps.
  int64_t restored_next_step_ = 0;
  // The window: losses, and gradient norms by layer, since the last Begin.
  double loss_sum_ = 0;
  int64_t loss_count_ = 0;
  std::vector<std::string> norm_layers_;
  std::vector<double> norm_sums_;
  double norm_total_sum_ = 0;
  int64_t norm_count_ = 0;
  // The record: every evaluation; the best (an index into evaluations_, -1
  // before any) and the evaluations since; test losses against the first.
  std::vector<v1::Evaluation> evaluations_;
  int best_ = -1;
  int since_best_ = 0;
  DivergenceGuard test_loss_guard_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_EVALUATION_TRACKER_H_
