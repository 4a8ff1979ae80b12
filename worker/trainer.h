// Trainer: a worker's training loop. Each step takes the next mini-batch
// of the worker's shuffled data shard, computes the model's loss and
// gradient on the current parameters (OpenMP threads over the batch, in the
// model), and sends the gradient to every shard in one PushPull, whose
// answer is the parameters for the next step.
//
// Buffers are sized once; a step allocates nothing but what gRPC does.
// Run() is called from one thread; Progress() may be called from any.
#ifndef DESCENT_WORKER_TRAINER_H_
#define DESCENT_WORKER_TRAINER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/data/dataset.h"
#include "common/metrics.h"
#include "common/model/model.h"
#include "common/ps_client.h"
#include "descent/v1/coordinator.pb.h"

namespace descent {

struct TrainerOptions {
  int epochs = 1;
  int batch_size = 32;
  // With worker_id, fixes each epoch's shuffle of the shard.
  uint64_t seed = 1;
  int32_t worker_id = 0;
};

class Trainer {
 public:
  // None of the pointers is owned; all must outlive the trainer. `metrics`
  // may be null.
  Trainer(TrainerOptions options, Model* model, PsClient* ps,
          const Dataset* data, WorkerMetrics* metrics);

  // Pulls the parameters, then trains for the configured epochs. Returns
  // CANCELLED as soon as `should_stop` returns true (checked every step),
  // FAILED_PRECONDITION if the loss stops being finite, or the PsClient's
  // error if a push fails.
  absl::Status Run(const std::function<bool()>& should_stop);

  // Cumulative progress, with done set once Run() has finished all epochs.
  v1::WorkerProgress Progress() const;

 private:
  // One step on the examples order_[first, first + n).
  absl::Status Step(int64_t step, int64_t first, int n);
  void Shuffle(int epoch);

  const TrainerOptions options_;
  Model* const model_;
  PsClient* const ps_;
  const Dataset* const data_;
  WorkerMetrics* const metrics_;

  std::vector<float> params_;
  std::vector<float> grad_;
  std::vector<float> batch_features_;
  std::vector<int32_t> batch_labels_;
  std::vector<float> batch_targets_;
  std::vector<int64_t> order_;

  mutable absl::Mutex mu_;
  v1::WorkerProgress progress_ ABSL_GUARDED_BY(mu_);
};

}  // namespace descent

#endif  // DESCENT_WORKER_TRAINER_H_
