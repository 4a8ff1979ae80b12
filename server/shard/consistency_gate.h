// ConsistencyGate: the part of a ParameterShard that decides when the
// answer to a push may go out, under the job's consistency model:
//
//   ASP     at once.
//   BSP     once the step the gradient was computed on has been applied
//           (the shard's version exceeds the push's base version), so a
//           worker never computes step t + 1 on parameters older than step
//           t. RoundSize() says how many gradients complete a step: every
//           live worker's, or the first W - backup_workers.
//   SSP(s)  once every live worker has pushed step c - s, where c is the
//           step of the push (its worker's clock). The fastest worker is
//           then never more than s steps ahead of the slowest, and no push
//           lags the fastest worker's latest step by more than s.
//
// A worker is live from the start until its push marked `last`; after that
// nobody waits for it. Held answers are plain callbacks, so waiting holds
// no thread: the shard releases them from whichever push (or Close) makes
// them ready.
//
// Not thread-safe: the shard calls it under its own mutex.
#ifndef DESCENT_SERVER_SHARD_CONSISTENCY_GATE_H_
#define DESCENT_SERVER_SHARD_CONSISTENCY_GATE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "descent/v1/job.pb.h"
#include "descent/v1/ps.pb.h"

namespace descent {

struct ConsistencyGateOptions {
  v1::Consistency consistency = v1::ASP;
  int32_t num_workers = 1;
  // Workers 0..live_workers-1 are live from the start; the others (slots
  // for workers that join the running job) only once they Join. 0: all.
  int32_t live_workers = 0;
  // SSP: the bound s.
  int staleness = 0;
  // BSP: gradients a step may go without.
  int backup_workers = 0;
};

class ConsistencyGate {
 public:
  // One push's answer, held until the gate lets it go.
  struct Held {
    int32_t worker = 0;
    int64_t step = 0;          // the worker's clock
    int64_t base_version = 0;  // the version its gradient was computed on
    // When the push reached the gate (the shard's clock).
    absl::Time arrived;
    // Fills what the response reads from the shard's state, given how long
    // it was held (release time minus `arrived`); run under the shard's
    // lock when released.
    std::function<void(absl::Duration held)> answer;
    // PushPull: the response whose params take the shard's whole slice,
    // filled after the shard's lock is dropped from one encoding shared by
    // every answer released with this one. Null for Push.
    v1::PushPullResponse* slice_to = nullptr;
    // Finishes the call; run after the shard's lock is dropped (and
    // `slice_to` filled).
    std::function<void(absl::Status)> done;
  };

  explicit ConsistencyGate(ConsistencyGateOptions options);

  v1::Consistency consistency() const { return options_.consistency; }

  // Records that `worker` (in [0, num_workers)) pushed `step`.
  void Arrived(int32_t worker, int64_t step);
  // Records that `worker` will push no more: nobody waits for it from now.
  void Leave(int32_t worker);
  // Makes `worker`, which has not been live yet (a joiner's slot), live.
  void Join(int32_t worker);

  // Workers that have not left.
  int live() const { return live_; }
  // Whether `worker` has left.
  bool left(int32_t worker) const { return left_[worker]; }

  // BSP: gradients that complete a step, max(1, live - backup_workers).
  int RoundSize() const;

  // Steps by which the furthest-ahead push seen so far leads `step` (0 if
  // none leads it).
  int64_t ClockLag(int64_t step) const;

  // Holds an answer until TakeReady releases it.
  void Hold(Held held);
  // Answers of `worker` held now.
  int held(int32_t worker) const { return held_by_[worker]; }

  // Removes and returns the held answers that may go out now that the
  // shard is at `version`, in arrival order.
  std::vector<Held> TakeReady(int64_t version);

  // Removes and returns every held answer (the shard is closing).
  std::vector<Held> TakeAll();

 private:
  bool Ready(const Held& held, int64_t version) const;
  // The smallest clock (steps pushed) of a live worker; INT64_MAX if none.
  int64_t SlowestLiveClock() const;

  const ConsistencyGateOptions options_;
  // Per worker: steps pushed (its latest step + 1), and whether it left.
  std::vector<int64_t> clock_;
  std::vector<bool> left_;
  int live_;
  int64_t latest_step_ = -1;
  std::vector<Held> held_;
  std::vector<int> held_by_;  // per worker
};

}  // namespace descent

#endif  // DESCENT_SERVER_SHARD_CONSISTENCY_GATE_H_
