// Trainer: a worker's training loop. Each step takes the next mini-batch
// of the worker's shuffled data shard (BatchOrder), computes the model's
// loss and gradient on the current parameters (StepKernel: OpenMP threads
// over the batch, in the model), checks and clips it (StepChecks), and
// sends it to every shard (PushPipeline), whose answer is the parameters
// for a following step.
//
// Sparse models: a step works on the sorted unique keys of its batch. The
// PushPull that sends this batch's row gradients also fetches the rows of
// the next batch's keys (pushed first, so they include this step's update),
// so a step still costs one round trip (step_kernel.h).
//
// Overlap (dense models, options.overlap): the PushPull of step t travels
// while the worker computes step t + 1's gradient on the parameters it has,
// which lack its own step-t update (push_pipeline.h).
//
// Epochs: the worker's examples of each epoch come from an EpochSource
// (the same shard every epoch unless the job's membership changes); the
// next epoch's are asked for during the last step of the one before, so
// that step can already fetch the next batch's rows.
//
// Buffers are sized once; a step allocates nothing but what the transport
// and a sparse batch's keys do. Run() is called from one thread; Progress()
// may be called from any.
#ifndef DESCENT_WORKER_TRAINER_H_
#define DESCENT_WORKER_TRAINER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/data/dataset.h"
#include "common/data/sparse_dataset.h"
#include "common/metrics.h"
#include "common/model/model.h"
#include "common/model/sparse_model.h"
#include "common/ps_client.h"
#include "descent/v1/coordinator.pb.h"
#include "worker/batch_order.h"
#include "worker/push_pipeline.h"
#include "worker/step_checks.h"
#include "worker/step_kernel.h"
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
  // Local SGD (dense models, no overlap; PushPipeline): push every this
  // many steps, the steps between applied locally at local_learning_rate.
  int push_every = 1;
  float local_learning_rate = 0;
  // Gradient clipping before each push (0: off): every element to
  // [-clip_value, clip_value], then the whole gradient (dense and rows) to
  // an L2 norm of at most clip_norm.
  float clip_value = 0;
  float clip_norm = 0;
  // DP-SGD (dense models): each example's gradient clipped to this L2 norm
  // before the batch's mean (DenseStepKernel); 0: off.
  float example_clip_norm = 0;
  // Divergence guard (train.max_loss_factor): a step whose loss exceeds
  // this times the mean loss of the worker's first 10 steps ends the run
  // with DivergedError, as does a non-finite loss or gradient. 0: only the
  // non-finite checks.
  double max_loss_factor = 0;
  // A resumed job: the first step to train (the steps before were done
  // before the checkpoint); progress counts them as done.
  int64_t start_step = 0;
  // The first epoch this worker trains (one that joined the running job:
  // the epoch it joined at), and what its pushes add to their step
  // (RequestHeader.step, the consistency gate's clock).
  int first_epoch = 0;
  int64_t clock_offset = 0;
};

class Trainer {
 public:
  // None of the pointers is owned; all must outlive the trainer. `metrics`
  // may be null. A dense model's max batch must be at least the resolved
  // batch size (the shard's size for batch_size 0).
  Trainer(TrainerOptions options, Model* model, PsClient* ps,
          const Dataset* data, WorkerMetrics* metrics);
  // A sparse model on sparse data.
  Trainer(TrainerOptions options, SparseModel* model, PsClient* ps,
          const SparseDataset* data, WorkerMetrics* metrics);
  // Epoch by epoch from `epochs` (options.epochs unused), whose first
  // epoch's data is `first` (its sizes fix the buffers; a dense model's max
  // batch must hold batch_size, or `first`'s size for batch_size 0). Not
  // owned; must outlive the trainer.
  Trainer(TrainerOptions options, Model* model, PsClient* ps,
          EpochSource* epochs, const Dataset* first, WorkerMetrics* metrics);
  Trainer(TrainerOptions options, SparseModel* model, PsClient* ps,
          EpochSource* epochs, const SparseDataset* first,
          WorkerMetrics* metrics);

  // Pulls the parameters, then trains for the configured epochs. Returns
  // CANCELLED as soon as `should_stop` returns true (checked every step),
  // DivergedError (common/exit_codes.h; the message names the worker, its
  // step and the value, and Progress().divergence() repeats it) if a loss
  // or gradient diverges, or the PsClient's error if a push fails. A push
  // in flight is always awaited before Run returns.
  absl::Status Run(const std::function<bool()>& should_stop);

  // Cumulative progress, with done set once Run() has finished all epochs.
  v1::WorkerProgress Progress() const;

 private:
  // One epoch of the worker's: its examples and their order.
  struct Span {
    int epoch = -1;  // -1: past the last
    EpochData data;
    std::unique_ptr<BatchOrder> order;
    int64_t steps = 0;       // in this epoch
    int64_t first_step = 0;  // the worker's steps before it
    BatchSpan Batch(int64_t i) const { return order->Batch(epoch * steps + i); }
  };

  Trainer(TrainerOptions options, std::unique_ptr<StepKernel> kernel,
          PsClient* ps, EpochSource* epochs, std::unique_ptr<EpochSource> owned,
          WorkerMetrics* metrics);

  // The first epoch from `epoch` on with examples, starting at step
  // `first_step` of the worker's; epoch -1 if none is left.
  absl::StatusOr<Span> SpanFrom(int epoch, int64_t first_step);
  // Finds the epoch and step options_.start_step falls in (current_,
  // local_) and the progress before it.
  absl::Status Position();
  // Pulls the parameters (and the first sparse batch's rows).
  absl::Status PullFirst();
  // Every step, after PullFirst.
  absl::Status Train(const std::function<bool()>& should_stop);
  // Step `i` of the current epoch: gradient, checks, clipping, push.
  absl::Status Step(int64_t i);
  // Records the last checked step's gradient norms in the progress.
  void RecordNorms(double total);
  // A push's answer is in: metrics and progress.
  // A step is done: its push answered (`transfer`), or, local SGD, applied
  // locally (null).
  void Pushed(const PushPipeline::Step& step,
              const PsClient::Transfer* transfer);

  const TrainerOptions options_;
  const std::unique_ptr<StepKernel> kernel_;
  const std::unique_ptr<EpochSource> owned_epochs_;  // FixedEpochs, or null
  EpochSource* const epochs_;
  // The epoch being trained, its next step, and the epoch after.
  Span current_;
  int64_t local_ = 0;
  Span next_;
  // An error of the source met while positioning, returned by Run().
  absl::Status positioned_;
  PsClient* const ps_;
  WorkerMetrics* const metrics_;
  StepChecks checks_;
  PushPipeline pipeline_;

  std::vector<float> params_;
  std::vector<float> grad_;
  // Steps and examples per second for the gauges.
  StepRate rate_;

  mutable absl::Mutex mu_;
  v1::WorkerProgress progress_ ABSL_GUARDED_BY(mu_);
};

}  // namespace descent

#endif  // DESCENT_WORKER_TRAINER_H_
