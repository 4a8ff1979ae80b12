// StepKernel: the part of a training step that depends on the model family,
// so the Trainer holds one of these instead of a pair of nullable dense and
// sparse models. DenseStepKernel copies a batch's examples together and runs
// a Model; SparseStepKernel gathers a batch's sparse entries, maps its keys
// to rows, and runs a SparseModel on the rows its push fetched.
//
// The protocol, per step: SetNext(batch t) before the step's Compute (for
// step 0 before the first pull), then Compute() makes batch t current and
// computes its gradient, then SetNext(batch t + 1) so that the step's push
// can fetch the rows the next batch needs (PushRows()). Sparse models thus
// read each batch's rows as they stand after the previous push, and a step
// still costs one round trip.
//
// Buffers are sized at construction; a step allocates only what a sparse
// batch's keys need. Not thread-safe.
#ifndef DESCENT_WORKER_STEP_KERNEL_H_
#define DESCENT_WORKER_STEP_KERNEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "common/data/dataset.h"
#include "common/data/sparse_dataset.h"
#include "common/model/model.h"
#include "common/model/sparse_model.h"
#include "common/optim/clipping.h"
#include "common/ps_client.h"
#include "worker/batch_order.h"
#include "worker/epoch_source.h"

namespace descent {

class StepKernel {
 public:
  virtual ~StepKernel() = default;

  // Examples in the worker's shard (of the epoch SetData gave).
  virtual int64_t num_examples() const = 0;
  // The examples the batches given to SetNext from now on index: dense
  // data for a dense kernel, sparse for a sparse one (same features).
  virtual void SetData(const EpochData& data) = 0;
  // The dense parameters' layout.
  virtual const ParamLayout& layout() const = 0;
  // True for sparse models: the gradient has a row part, "sparse_rows".
  virtual bool has_rows() const = 0;

  // The batch the next Compute works on (size 0: none, after the last).
  virtual void SetNext(BatchSpan batch) = 0;
  // Makes the batch given to SetNext current and returns its mean loss at
  // `params` (layout().size() floats), writing the dense gradient to grad.
  virtual float Compute(const float* params, float* grad) = 0;
  // The current batch's row gradient (empty for dense models).
  virtual GradientSpan RowGradient() = 0;
  // The rows a push carries: the current batch's row gradients out, the
  // next batch's rows in. Null for dense models.
  virtual const PsClient::Rows* PushRows() = 0;
  // The rows the first pull fetches: the next batch's. Null for dense.
  virtual const PsClient::Rows* PullRows() = 0;
};

// A dense model on a dense shard; max batch size `max_batch` (>= 1). The
// model and data must outlive the kernel. With `example_clip_norm` > 0
// (DP-SGD, job.proto PrivacyConfig without federated) the gradient is the
// mean of the batch's per-example gradients, each clipped to that L2 norm
// (Abadi et al. 2016); the shards add the noise.
std::unique_ptr<StepKernel> DenseStepKernel(Model* model, const Dataset* data,
                                            int max_batch,
                                            float example_clip_norm = 0);
// A sparse model on a sparse shard.
std::unique_ptr<StepKernel> SparseStepKernel(SparseModel* model,
                                             const SparseDataset* data);

}  // namespace descent

#endif  // DESCENT_WORKER_STEP_KERNEL_H_
