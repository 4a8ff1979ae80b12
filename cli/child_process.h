// ChildProcess: one process started by `descent local` (a coordinator, a
// server or a worker), owned by the launcher until it has been reaped.
//
// The contract is that no child outlives the launcher:
//   - Each child runs in its own process group, so a terminal's Ctrl-C
//     reaches only the launcher, which then decides how to stop children.
//   - Each child asks the kernel for SIGKILL when its parent dies
//     (PR_SET_PDEATHSIG), so even `kill -9` of the launcher stops it. The
//     kernel ties this to the *thread* that forked: call Start() from a
//     thread that lives as long as the children (normally main).
//   - Destroying a ChildProcess that is still running kills and reaps it.
//
// Waiting is per PID (waitpid(pid, ..., WNOHANG) polled every 10 ms), never
// waitpid(-1), so other code may own other children of the same process.
//
// Not thread-safe: one thread owns each ChildProcess.
#ifndef DESCENT_CLI_CHILD_PROCESS_H_
#define DESCENT_CLI_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace descent {

class ChildProcess {
 public:
  struct Options {
    // For messages only, e.g. "server/1".
    std::string name;
    // argv[0] is the program's path; it is not looked up in PATH.
    std::vector<std::string> argv;
    // Files that receive the child's output, opened for appending and
    // created (mode 0644) if missing. Empty: inherit the launcher's stream.
    std::string stdout_path;
    std::string stderr_path;
  };

  // Starts the process (fork + execv). The child starts with a default
  // signal mask and dispositions. Returns INVALID_ARGUMENT for an empty
  // argv, or the errno-derived status (NOT_FOUND for a missing program,
  // PERMISSION_DENIED, ...) of whichever step failed: opening an output
  // file, fork, or a setup step or execv in the child. The message names
  // the child and its program. On error no process is left running.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(Options options);

  // If still running: Terminate(absl::ZeroDuration()).
  ~ChildProcess();

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }

  // Non-blocking. Reaps the child if it has exited; returns exited().
  bool Poll();
  // True once the child has been reaped. Does not check; see Poll().
  bool exited() const { return exited_; }

  // Once exited(): the exit code if it exited normally, 128 + the signal
  // number if a signal killed it (the shell's convention). -1 before.
  int exit_code() const;
  // If other code reaped the child (waitpid(-1) elsewhere) the outcome is
  // unknown: exited() becomes true and exit_code() stays -1.
  // "exited with code 3", "killed by signal 9 (Killed)" or "is running".
  std::string DescribeExit() const;

  // Sends SIGTERM, waits up to `grace` for the child to exit, then sends
  // SIGKILL and waits. Returns once the child is reaped. Both signals go
  // to the child's whole process group, so processes the child started
  // and left in its group stop too. A no-op once exited. Idempotent.
  void Terminate(absl::Duration grace);

  // Sends `sig` to the child's PID only. A no-op once exited.
  void Signal(int sig);

 private:
  friend void TerminateAll(
      const std::vector<std::unique_ptr<ChildProcess>>& children,
      absl::Duration grace);

  ChildProcess(std::string name, pid_t pid)
      : name_(std::move(name)), pid_(pid) {}

  // Sends `sig` to the child's process group, unless already reaped.
  void SignalGroup(int sig);
  // waitpid with `flags` (0 or WNOHANG), retried on EINTR; returns exited().
  bool Wait(int flags);
  // Records the outcome of a successful waitpid.
  void RecordExit(int wait_status);

  // Constant after construction.
  const std::string name_;
  const pid_t pid_;

  bool exited_ = false;
  int wait_status_ = -1;  // from waitpid once exited_; -1: unknown
};

// Stops every child that is still running: SIGTERM to all of them at
// once, then waits up to `grace` for all together, then SIGKILLs the rest.
// Returns once every child is reaped. Null entries are skipped.
void TerminateAll(const std::vector<std::unique_ptr<ChildProcess>>& children,
                  absl::Duration grace);

}  // namespace descent

#endif  // DESCENT_CLI_CHILD_PROCESS_H_
