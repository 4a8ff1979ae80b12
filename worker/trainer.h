// Trainer: a worker's training loop. Each step takes the next mini-batch
// of the worker's shuffled data shard, computes the model's loss and
// gradient on the current parameters (OpenMP threads over the batch, in the
// model), and sends the gradient to every shard in one PushPull, whose
// answer is the parameters for the next step.
//
// Sparse models: a step works on the sorted unique keys of its batch. The
// PushPull that sends this batch's row gradients also fetches the rows of
// the next batch's keys (pushed first, so they include this step's update),
// so a step still costs one round trip.
//
// Overlap (dense models, options.overlap): the PushPull of step t runs on a
// second thread while the worker computes step t + 1's gradient on the
// parameters it has, which lack its own step-t update (a staleness of one
// step, on top of whatever ASP adds). A step then costs about max(compute,
// round trip) rather than their sum. Two parameter and two gradient buffers
// keep the threads apart: the push writes the next parameters into one
// while the gradient step reads the other.
//
// Buffers are sized once; a step allocates nothing but what gRPC does.
// Run() is called from one thread; Progress() may be called from any.
#ifndef DESCENT_WORKER_TRAINER_H_
#define DESCENT_WORKER_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/data/dataset.h"
#include "common/data/sparse_dataset.h"
#include "common/metrics.h"
#include "common/model/model.h"
#include "common/model/sparse_model.h"
#include "common/optim/divergence_guard.h"
#include "common/ps_client.h"
#include "descent/v1/coordinator.pb.h"
#include "worker/step_rate.h"

namespace descent {

struct TrainerOptions {
  int epochs = 1;
  // Examples per step; 0: the whole shard (batch gradient descent).
  int batch_size = 32;
  // With worker_id, fixes each epoch's shuffle of the shard.
  uint64_t seed = 1;
  int32_t worker_id = 0;
  // Overlap each push with the next gradient (dense models only).
  bool overlap = false;
  // Gradient clipping before each push (0: off): every element to
  // [-clip_value, clip_value], then the whole gradient (dense and rows) to
  // an L2 norm of at most clip_norm.
  float clip_value = 0;
  float clip_norm = 0;
  // Divergence guard (train.max_loss_factor): a step whose loss exceeds
  // this times the mean loss of the worker's first 10 steps ends the run
  // with DivergedError, as does a non-finite loss or gradient. 0: only the
  // non-finite checks.
  double max_loss_factor = 0;
};

class Trainer {
 public:
  // None of the pointers is owned; all must outlive the trainer. `metrics`
  // may be null.
  Trainer(TrainerOptions options, Model* model, PsClient* ps,
          const Dataset* data, WorkerMetrics* metrics);
  // A sparse model on sparse data.
  Trainer(TrainerOptions options, SparseModel* model, PsClient* ps,
          const SparseDataset* data, WorkerMetrics* metrics);

  // Pulls the parameters, then trains for the configured epochs. Returns
  // CANCELLED as soon as `should_stop` returns true (checked every step),
  // DivergedError (common/exit_codes.h; the message names the worker, its
  // step and the value, and Progress().divergence() repeats it) if a loss
  // or gradient diverges, or the PsClient's error if a push fails.
  absl::Status Run(const std::function<bool()>& should_stop);

  // Cumulative progress, with done set once Run() has finished all epochs.
  v1::WorkerProgress Progress() const;

 private:
  // A sparse mini-batch: its keys, its entries mapped to slots, and room
  // for their rows and row gradients.
  struct SparseBuffers {
    std::vector<uint64_t> keys;        // sorted, unique
    std::vector<uint64_t> entry_keys;  // per entry, before mapping to slots
    std::vector<int64_t> row_offsets;
    std::vector<int32_t> slots;
    std::vector<float> values;
    std::vector<int32_t> labels;
    std::vector<float> targets;
    std::vector<float> rows;       // keys.size() x row width
    std::vector<float> row_grads;  // the same
  };

  // Examples in the worker's shard.
  int64_t num_examples() const;
  // Copies the examples order_[first, first + n) into the batch buffers and
  // returns their loss, leaving the gradient in grad_.
  float ComputeDense(int64_t first, int n);
  // Fills *batch with the examples order_[first, first + n).
  void GatherSparse(int64_t first, int n, SparseBuffers* batch) const;
  // Pulls the parameters (and the first sparse batch's rows).
  absl::Status PullFirst();
  // Every epoch's steps, after PullFirst.
  absl::Status Train(const std::function<bool()>& should_stop);
  // One step on the examples order_[first, first + n). Sparse models:
  // `current` holds those examples, gathered, and `next` the following
  // batch (no keys after the last); both null for dense models.
  absl::Status Step(int64_t step, int64_t first, int n, SparseBuffers* current,
                    SparseBuffers* next);
  // The push half of a step: sends grad (and rows), receives the parameters
  // into `params`, records metrics and progress.
  absl::Status Push(int64_t step, int n, float loss, double compute_seconds,
                    const float* grad, float* params,
                    const PsClient::Rows* rows);
  // Sets up the per-layer gradient norms: names, gauges, progress sums.
  void SetUpGradientNorms();
  // Checks this step's loss and gradient (grad_ and, for sparse models,
  // current->row_grads) before clipping, and records the gradient's norms
  // in the gauges and the progress; sets *norm to the whole gradient's
  // norm. Returns DivergedError if either diverged.
  absl::Status CheckStep(int64_t step, float loss, const SparseBuffers* current,
                         double* norm);
  // Records `message` as the progress's divergence and returns it as a
  // DivergedError.
  absl::Status Diverged(const std::string& message);
  // Overlap: waits for the push in flight, if any, and returns its status.
  absl::Status WaitForPush();
  // Overlap: the push thread's loop.
  void PushLoop();
  void Shuffle(int epoch);

  const TrainerOptions options_;  // batch_size 0 resolved to the shard's
  // Steps over all epochs; the last push says it is the last.
  const int64_t total_steps_;
  // Exactly one model and its data are set.
  Model* const model_ = nullptr;
  const Dataset* const data_ = nullptr;
  SparseModel* const sparse_model_ = nullptr;
  const SparseDataset* const sparse_data_ = nullptr;
  PsClient* const ps_;
  WorkerMetrics* const metrics_;

  std::vector<float> params_;
  std::vector<float> grad_;
  // Overlap: the push in flight fills incoming_ from sending_.
  std::vector<float> incoming_;
  std::vector<float> sending_;
  std::vector<float> batch_features_;
  std::vector<int32_t> batch_labels_;
  std::vector<float> batch_targets_;
  std::vector<int64_t> order_;
  SparseBuffers sparse_[2];  // this step's batch and the next
  // Per layer (the layout's tensors, then "sparse_rows" for sparse models):
  // names and this step's gradient norms; gauges by layer, then the total
  // (empty without metrics).
  std::vector<std::string> norm_layers_;
  std::vector<double> norms_;
  std::vector<prometheus::Gauge*> norm_gauges_;
  DivergenceGuard loss_guard_{options_.max_loss_factor, 10};
  // Steps and examples per second for the gauges; Push records into it,
  // from one thread at a time (the push thread under overlap).
  StepRate rate_;

  mutable absl::Mutex mu_;
  v1::WorkerProgress progress_ ABSL_GUARDED_BY(mu_);
  // Overlap: the one push the push thread runs next, or is running.
  std::function<absl::Status()> push_task_ ABSL_GUARDED_BY(mu_);
  bool push_busy_ ABSL_GUARDED_BY(mu_) = false;
  bool push_thread_exit_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status push_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace descent

#endif  // DESCENT_WORKER_TRAINER_H_
