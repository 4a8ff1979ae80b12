// HeartbeatLoop: a background thread that tells the coordinator this
// process is alive (and, for workers, how far it has got) every `interval`,
// and learns from the answers when the job has ended.
//
// The loop ends when the coordinator reports SUCCEEDED or FAILED, when it
// refuses this process (FAILED_PRECONDITION: a worker declared lost or
// replaced by a new process), or when no heartbeat has succeeded for
// `lost_after` (the coordinator is gone).
// Thread-safe.
#ifndef DESCENT_ROLES_HEARTBEAT_H_
#define DESCENT_ROLES_HEARTBEAT_H_

#include <functional>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/transport.h"

namespace descent {

class HeartbeatLoop {
 public:
  struct Options {
    CoordinatorClient* client = nullptr;  // not owned; outlives the loop
    std::string job_id;
    v1::Role role = v1::ROLE_UNSPECIFIED;
    int32_t id = 0;
    absl::Duration interval = absl::Milliseconds(200);
    absl::Duration lost_after = absl::Seconds(10);
    // Workers: returns the progress to report, or nullopt while there is
    // none yet (a replacement's counts go on from its predecessor's, so an
    // empty report would go back). May be empty.
    std::function<std::optional<v1::WorkerProgress>()> progress;
    // Servers: returns the shard's version to report. May be empty.
    std::function<int64_t()> version;
    // Workers: RegisterWorkerResponse.incarnation.
    int32_t incarnation = 0;
    // Called with every answer to the loop's own heartbeats, on its thread.
    // May be empty.
    std::function<void(const v1::HeartbeatResponse&)> on_answer;
  };

  // Starts the thread.
  explicit HeartbeatLoop(Options options);
  // Stops the thread (without waiting for the job to end).
  ~HeartbeatLoop();

  HeartbeatLoop(const HeartbeatLoop&) = delete;
  HeartbeatLoop& operator=(const HeartbeatLoop&) = delete;

  // Sends the next heartbeat now rather than after the interval.
  void BeatNow();

  // True once the job has ended or the coordinator was lost.
  bool ended() const;

  // Blocks until ended(). Returns OK if the job SUCCEEDED, ABORTED if it
  // FAILED (with the coordinator's exit code attached: WithExitCode in
  // common/exit_codes.h), FAILED_PRECONDITION (exit code kExitPeerLost) if
  // the coordinator refused this process, UNAVAILABLE (exit code
  // kExitCoordinatorLost) if the coordinator was lost.
  absl::Status WaitForEnd();

  // Blocks until ended() or `timeout` has passed; returns ended().
  bool AwaitEnd(absl::Duration timeout);

  // Workers: tells the coordinator, in one last heartbeat with the progress
  // so far, that this worker leaves the job for good (drained,
  // HeartbeatRequest.leaving). Returns the coordinator's error, if any.
  absl::Status Leave();

  // Workers: asks for this worker's DataShare of `epoch` (a heartbeat with
  // share_epoch, its progress included).
  absl::StatusOr<v1::DataShare> AskShare(int32_t epoch);

 private:
  // The heartbeat as this process sends it now.
  v1::HeartbeatRequest Request() const;
  void Run();
  // One heartbeat; records the outcome.
  void Beat();
  // What an answer to any heartbeat of this process says (the loop's own,
  // AskShare's, Leave's): the coordinator counts a member as told of the
  // job's end by whichever of them it answers first.
  void Record(const absl::StatusOr<v1::HeartbeatResponse>& response);

  const Options options_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status outcome_ ABSL_GUARDED_BY(mu_);
  absl::Time last_success_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace descent

#endif  // DESCENT_ROLES_HEARTBEAT_H_
