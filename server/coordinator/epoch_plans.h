// EpochPlans: how each epoch's training set is split among the workers,
// for elastic membership (cluster.max_workers, cluster.lost_worker_data).
//
// The plan of epoch e is fixed when the first share of e (or of a later
// epoch) is asked for: the training set's examples are split evenly
// (SplitEvenly) among the workers active then, in id order, and a
// worker's share of e is its part. A job whose membership never changes
// has the split of its start in every epoch (worker k of W: part k), so
// its shards and results are what a fixed split gives.
//
// The configured workers are active from the start. A worker that joins is
// active in the plans fixed after it joined; one that is removed (lost or
// drained) leaves the plans fixed after under SPLIT, so the others share
// its data, and stays in them under DROP, so its parts go untrained.
// Thread-compatible: the coordinator calls it under its lock.
#ifndef DESCENT_SERVER_COORDINATOR_EPOCH_PLANS_H_
#define DESCENT_SERVER_COORDINATOR_EPOCH_PLANS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "common/partition.h"
#include "descent/v1/checkpoint.pb.h"
#include "server/coordinator/progress_bounds.h"

namespace descent {

class EpochPlans {
 public:
  // `examples` >= 0 training examples, `epochs` >= 1, workers 0..workers-1
  // active. `split`: SPLIT, else DROP.
  EpochPlans(int64_t examples, int epochs, int workers, bool split);

  // A resumed job: the plans its checkpoint recorded (epochs in order from
  // 0). The configured workers in the last of them are active; workers
  // that had joined must join again (with new ids).
  void Restore(const std::vector<v1::EpochPlan>& plans);

  // The first epoch whose plan is not fixed yet (epochs() once all are).
  int next_epoch() const { return static_cast<int>(plans_.size()); }
  int epochs() const { return epochs_; }

  // `worker` is active from next_epoch() on.
  void Join(int32_t worker);
  // `worker` leaves the plans fixed from now on (SPLIT only).
  void Remove(int32_t worker);

  // Fixes every plan up to `epoch` (in [0, epochs())) and returns
  // `worker`'s part of it; nullopt if the worker is not in that plan.
  std::optional<IndexRange> ShareOf(int32_t worker, int epoch);

  // The examples of `worker`'s parts in the plans fixed so far, and the
  // steps they take at `batch_size` (0: one a part); with `projected`,
  // also in the epochs not fixed yet as if their plans had the workers
  // active now (what the worker trains if membership does not change).
  WorkerLimits LimitsOf(int32_t worker, int batch_size,
                        bool projected = false) const;

  // Epoch `epoch`'s part of `worker` in its fixed plan (empty if none).
  IndexRange PartOf(int32_t worker, int epoch) const;

  const std::vector<v1::EpochPlan>& plans() const { return plans_; }

 private:
  void FixNext();

  const int64_t examples_;
  const int epochs_;
  const int workers_;
  const bool split_;
  std::vector<int32_t> active_;  // sorted
  std::vector<v1::EpochPlan> plans_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_EPOCH_PLANS_H_
