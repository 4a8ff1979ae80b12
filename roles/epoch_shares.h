// EpochShares: a worker's EpochSource that asks the coordinator for each
// epoch's share of the training set (HeartbeatLoop::AskShare) and reads
// only those examples, again only when the share changes (elastic
// membership, a lost worker's data split among the others). Keeps the
// data of two epochs, as EpochSource promises.
#ifndef DESCENT_ROLES_EPOCH_SHARES_H_
#define DESCENT_ROLES_EPOCH_SHARES_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "common/data/data_source.h"
#include "descent/v1/job.pb.h"
#include "roles/heartbeat.h"
#include "worker/epoch_source.h"

namespace descent {

class EpochShares final : public EpochSource {
 public:
  // `loop` must outlive this. `num_features`: what every share must have
  // (dense data). Waits at most `patience` for a share that is not ready.
  EpochShares(HeartbeatLoop* loop, const v1::JobConfig& config,
              int64_t num_features, absl::Duration patience);

  absl::StatusOr<std::optional<EpochData>> Epoch(int epoch) override;

 private:
  struct Loaded {
    int64_t begin = -1;
    int64_t end = -1;
    std::shared_ptr<Examples> examples;
  };

  absl::StatusOr<v1::DataShare> AskUntilReady(int epoch);

  HeartbeatLoop* const loop_;
  const DataSource source_;
  const int64_t num_features_;
  const absl::Duration patience_;
  Loaded slots_[2];  // by epoch parity
};

}  // namespace descent

#endif  // DESCENT_ROLES_EPOCH_SHARES_H_
