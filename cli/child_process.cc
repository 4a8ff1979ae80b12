#include "cli/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"

namespace descent {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(10);
constexpr int kUnknownStatus = -1;

// Closes a file descriptor when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd() { Reset(); }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// The steps the child takes between fork and exec. If one fails the child
// writes a ChildFailure to the report pipe and exits; a successful execv
// closes the pipe (O_CLOEXEC), which the parent reads as success.
enum ChildStep { kSetpgid, kPdeathsig, kRedirect, kExec };
struct ChildFailure {
  int step;
  int error;
};

const char* StepName(int step) {
  switch (step) {
    case kSetpgid:
      return "setpgid";
    case kPdeathsig:
      return "prctl(PR_SET_PDEATHSIG)";
    case kRedirect:
      return "redirecting output";
    default:
      return "execv";
  }
}

// Everything the child needs, prepared before fork: after fork the child
// may only make async-signal-safe calls, so it must not allocate.
struct ChildSetup {
  std::vector<char*> argv;  // null-terminated; points into Options::argv
  pid_t parent_pid = 0;
  int stdout_fd = -1;  // -1: inherit
  int stderr_fd = -1;  // -1: inherit
  int report_fd = -1;  // write end of the report pipe
};

[[noreturn]] void ReportAndExit(int report_fd, ChildStep step) {
  ChildFailure failure{step, errno};
  ssize_t unused = write(report_fd, &failure, sizeof(failure));
  (void)unused;
  _exit(127);
}

void ResetSignals() {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = SIG_DFL;
  // Fails harmlessly for SIGKILL, SIGSTOP and glibc's reserved signals.
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Makes `fd` the child's `target` descriptor. dup2 clears O_CLOEXEC on the
// copy; when fd already is target, clear it by hand.
bool Redirect(int fd, int target) {
  if (fd < 0) return true;
  if (fd == target) return fcntl(fd, F_SETFD, 0) == 0;
  return dup2(fd, target) == target;
}

// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void RunChild(const ChildSetup& setup) {
  if (setpgid(0, 0) != 0) ReportAndExit(setup.report_fd, kSetpgid);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    ReportAndExit(setup.report_fd, kPdeathsig);
  }
  // The launcher died before prctl took effect: nobody will stop us.
  if (getppid() != setup.parent_pid) _exit(127);
  ResetSignals();
  if (!Redirect(setup.stdout_fd, STDOUT_FILENO) ||
      !Redirect(setup.stderr_fd, STDERR_FILENO)) {
    ReportAndExit(setup.report_fd, kRedirect);
  }
  execv(setup.argv[0], setup.argv.data());
  ReportAndExit(setup.report_fd, kExec);
}

// Opens `path` for appending into *fd; leaves *fd alone if path is empty.
absl::Status OpenOutput(const std::string& path, ScopedFd* fd) {
  if (path.empty()) return absl::OkStatus();
  int opened =
      open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (opened < 0) return absl::ErrnoToStatus(errno, "open " + path);
  fd->Reset(opened);
  return absl::OkStatus();
}

// Waits for the child's report. Returns true and fills *failure if a step
// failed, false once the pipe closes (execv succeeded).
bool ReadFailure(int report_fd, ChildFailure* failure) {
  ssize_t n;
  do {
    n = read(report_fd, failure, sizeof(*failure));
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof(*failure));
}

// Polls `all_exited` every kPollInterval until it returns true or
// `deadline` passes. Returns its last answer.
template <typename AllExited>
bool PollUntil(absl::Time deadline, AllExited all_exited) {
  while (!all_exited()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    absl::SleepFor(std::min(left, kPollInterval));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    Options options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot start ", options.name, ": empty argv"));
  }
  const std::string context =
      absl::StrCat("cannot start ", options.name, " (", options.argv[0], ")");
  ScopedFd stdout_fd, stderr_fd;
  absl::Status opened = OpenOutput(options.stdout_path, &stdout_fd);
  if (opened.ok()) opened = OpenOutput(options.stderr_path, &stderr_fd);
  if (!opened.ok()) {
    return absl::Status(opened.code(),
                        absl::StrCat(context, ": ", opened.message()));
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, context + ": pipe2");
  }
  ScopedFd report_read(pipe_fds[0]), report_write(pipe_fds[1]);

  ChildSetup setup;
  for (std::string& arg : options.argv) setup.argv.push_back(arg.data());
  setup.argv.push_back(nullptr);
  setup.parent_pid = getpid();
  setup.stdout_fd = stdout_fd.get();
  setup.stderr_fd = stderr_fd.get();
  setup.report_fd = report_write.get();

  pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, context + ": fork");
  if (pid == 0) RunChild(setup);

  // Also set the group from this side, so it exists however the two
  // processes are scheduled; the child's own call makes it certain.
  setpgid(pid, pid);
  report_write.Reset();
  std::unique_ptr<ChildProcess> child(
      new ChildProcess(std::move(options.name), pid));
  ChildFailure failure;
  if (!ReadFailure(report_read.get(), &failure)) return child;
  child->Wait(0);  // it exits right after reporting
  return absl::ErrnoToStatus(
      failure.error, absl::StrCat(context, ": ", StepName(failure.step)));
}

ChildProcess::~ChildProcess() { Terminate(absl::ZeroDuration()); }

bool ChildProcess::Wait(int flags) {
  if (exited_) return true;
  int status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(pid_, &status, flags);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid_) {
    RecordExit(status);
  } else if (reaped < 0) {  // ECHILD: someone else's waitpid took it
    LOG(WARNING) << name_ << " (pid " << pid_
                 << ") was reaped by other code; its exit status is lost";
    RecordExit(kUnknownStatus);
  }
  return exited_;
}

void ChildProcess::RecordExit(int wait_status) {
  exited_ = true;
  wait_status_ = wait_status;
}

bool ChildProcess::Poll() { return Wait(WNOHANG); }

int ChildProcess::exit_code() const {
  if (!exited_ || wait_status_ == kUnknownStatus) return -1;
  if (WIFEXITED(wait_status_)) return WEXITSTATUS(wait_status_);
  if (WIFSIGNALED(wait_status_)) return 128 + WTERMSIG(wait_status_);
  return -1;
}

std::string ChildProcess::DescribeExit() const {
  if (!exited_) return "is running";
  if (wait_status_ != kUnknownStatus && WIFSIGNALED(wait_status_)) {
    int sig = WTERMSIG(wait_status_);
    const char* description = sigdescr_np(sig);
    return absl::StrFormat("killed by signal %d (%s)", sig,
                           description != nullptr ? description : "unknown");
  }
  if (wait_status_ != kUnknownStatus && WIFEXITED(wait_status_)) {
    return absl::StrCat("exited with code ", WEXITSTATUS(wait_status_));
  }
  return "exited with unknown status";
}

void ChildProcess::Signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

// Until reaped, pid_ cannot be reused, and as the group's leader it names
// a group no one else can have: signalling -pid_ reaches only our child
// and whatever it started in its group.
void ChildProcess::SignalGroup(int sig) {
  if (!exited_) kill(-pid_, sig);
}

void ChildProcess::Terminate(absl::Duration grace) {
  if (Poll()) return;
  SignalGroup(SIGTERM);
  PollUntil(absl::Now() + grace, [this] { return Poll(); });
  SignalGroup(SIGKILL);
  Wait(0);
}

void TerminateAll(const std::vector<std::unique_ptr<ChildProcess>>& children,
                  absl::Duration grace) {
  std::vector<ChildProcess*> running;
  for (const auto& child : children) {
    if (child == nullptr || child->Poll()) continue;
    child->SignalGroup(SIGTERM);
    running.push_back(child.get());
  }
  PollUntil(absl::Now() + grace, [&running] {
    bool all = true;
    for (ChildProcess* child : running) all = child->Poll() && all;
    return all;
  });
  for (ChildProcess* child : running) child->SignalGroup(SIGKILL);
  for (ChildProcess* child : running) child->Wait(0);
}

}  // namespace descent
