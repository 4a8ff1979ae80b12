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
  // A resumed job: the first step to train (the steps before were done
  // before the checkpoint); progress counts them as done.
  int64_t start_step = 0;
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
  Trainer(TrainerOptions options, std::unique_ptr<StepKernel> kernel,
          PsClient* ps, WorkerMetrics* metrics);

  // options_.start_step, within [0, total steps].
  int64_t FirstStep() const;
  // Pulls the parameters (and the first sparse batch's rows).
  absl::Status PullFirst();
  // Every step, after PullFirst.
  absl::Status Train(const std::function<bool()>& should_stop);
  // One step: gradient, checks, clipping, push.
  absl::Status Step(int64_t step);
  // Records the last checked step's gradient norms in the progress.
  void RecordNorms(double total);
  // A push's answer is in: metrics and progress.
  void Pushed(const PushPipeline::Step& step,
              const PsClient::Transfer& transfer);

  const TrainerOptions options_;
  const std::unique_ptr<StepKernel> kernel_;
  BatchOrder order_;
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
