// EpochSource: the examples a worker trains on in each epoch of the job.
// A job whose membership never changes gives a worker the same shard every
// epoch (FixedEpochs); under elastic membership the coordinator splits each
// epoch's data among the workers it has then (roles/worker_role.cc asks it
// for every epoch's share and loads it).
#ifndef DESCENT_WORKER_EPOCH_SOURCE_H_
#define DESCENT_WORKER_EPOCH_SOURCE_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/data/sparse_dataset.h"

namespace descent {

// One epoch's examples: dense or sparse, never both.
struct EpochData {
  const Dataset* dense = nullptr;
  const SparseDataset* sparse = nullptr;

  int64_t size() const {
    return dense != nullptr    ? dense->num_examples
           : sparse != nullptr ? sparse->num_examples
                               : 0;
  }
};

class EpochSource {
 public:
  virtual ~EpochSource() = default;

  // The worker's examples of `epoch` (counting over the job; possibly
  // none), or nullopt once the job has no such epoch for the worker. The
  // data stays valid until the call for epoch + 2. Called from one thread,
  // epochs in increasing order.
  virtual absl::StatusOr<std::optional<EpochData>> Epoch(int epoch) = 0;
};

// The same `data` in epochs 0..epochs-1.
std::unique_ptr<EpochSource> FixedEpochs(EpochData data, int epochs);

}  // namespace descent

#endif  // DESCENT_WORKER_EPOCH_SOURCE_H_
