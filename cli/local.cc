#include "cli/local.h"

#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/child_process.h"
#include "cli/progress.h"
#include "cli/prometheus_targets.h"
#include "common/backoff.h"
#include "common/config/config.h"
#include "common/config/job_options.h"
#include "common/data/input_files.h"
#include "common/exit_codes.h"
#include "common/status_macros.h"
#include "common/storage/atomic_file.h"
#include "common/storage/output_dir.h"
#include "roles/checkpointer.h"
#include "roles/stop_signals.h"
#include "rpc/grpc_coordinator_client.h"
#include "server/coordinator/checkpoints.h"

namespace descent {
namespace {

std::atomic<int> g_interrupt{0};

void OnInterrupt(int signal) { g_interrupt.store(signal); }

// The launcher's children, coordinator first.
struct Job {
  std::string output_dir;
  std::string binary;
  std::string prometheus_sd_file;  // empty: none
  absl::Duration metrics_linger;   // the coordinator's, after the end
  bool resume = false;             // --resume: the job in output_dir goes on
  RpcSecurity security;            // the launcher's own calls
  std::vector<std::string> security_flags;  // every child's
  std::vector<std::unique_ptr<ChildProcess>> children;
  // cluster.on_worker_failure, resolved, and max_worker_restarts.
  v1::WorkerFailurePolicy on_worker_failure = v1::RESTART;
  int max_worker_restarts = 0;
  // Each worker's arguments (to restart it), restarts so far, and when the
  // next restart is due (InfiniteFuture: none pending).
  struct Worker {
    std::vector<std::string> args;
    int restarts = 0;
    absl::Time restart_at = absl::InfiniteFuture();
  };
  std::map<std::string, Worker> workers;  // by child name
  // Children whose death the failure policy took care of (by pid).
  std::set<pid_t> absorbed;
  // A dead server rolls the job back to its newest complete checkpoint
  // (train.checkpoint on), up to cluster.max_server_restarts times; the
  // global steps those rollbacks undid.
  bool checkpoints_on = false;
  int max_server_restarts = 0;
  int server_restarts = 0;
  int64_t steps_lost = 0;
};

// What Supervise returns (never an exit code) when a server died and the
// job is to go on from its newest complete checkpoint.
constexpr int kRollBack = -1;

// How long an interrupted launcher waits for the coordinator to take its
// last checkpoint, write its results and exit, before stopping everything.
constexpr absl::Duration kInterruptGrace = absl::Seconds(20);

// A heartbeat interval (roles/heartbeat.h) and a margin: how long after a
// server died the coordinator's view of the workers' steps is current.
constexpr absl::Duration kProgressSettles = absl::Milliseconds(300);

// logs/server-1.log for child "server/1".
std::string LogPath(const Job& job, const std::string& name) {
  std::string file = name;
  std::replace(file.begin(), file.end(), '/', '-');
  return absl::StrCat(job.output_dir, "/logs/", file, ".log");
}

// Starts `name` (replacing the exited child of that name, if any).
absl::Status Spawn(Job& job, const std::string& name,
                   std::vector<std::string> args) {
  ChildProcess::Options options;
  options.name = name;
  options.argv = {job.binary};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.argv.insert(options.argv.end(), job.security_flags.begin(),
                      job.security_flags.end());
  options.stderr_path = LogPath(job, name);
  options.stdout_path = options.stderr_path;
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start(std::move(options));
  if (!child.ok()) return child.status();
  for (auto& existing : job.children) {
    if (existing->name() == name && existing->exited()) {
      existing = *std::move(child);
      return absl::OkStatus();
    }
  }
  job.children.push_back(*std::move(child));
  return absl::OkStatus();
}

// The first child that exited with a non-zero code, or null.
const ChildProcess* FirstFailure(Job& job) {
  for (const auto& child : job.children) {
    if (child->Poll() && child->exit_code() != 0 &&
        job.absorbed.count(child->pid()) == 0) {
      return child.get();
    }
  }
  return nullptr;
}

// A worker that died (a signal, or exit code 4: it lost a peer, or the
// coordinator declared it lost) rather than failed on its own (bad data,
// a bad flag), which no restart would mend.
bool WorkerDied(const Job& job, const ChildProcess& child) {
  return job.workers.count(child.name()) > 0 &&
         (child.exit_code() > 128 || child.exit_code() == kExitPeerLost);
}

// Sends the coordinator SIGTERM and waits up to kInterruptGrace for it to
// exit (it checkpoints if it can, ends the job as interrupted and writes
// its results). Returns false if it had exited already.
bool StopCoordinator(Job& job) {
  ChildProcess& coordinator = *job.children.front();
  if (coordinator.Poll()) return false;
  coordinator.Signal(SIGTERM);
  const absl::Time give_up = absl::Now() + kInterruptGrace;
  while (!coordinator.Poll() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// A server that died (a signal, or exit code 4: it lost a peer) rather
// than failed on its own.
bool ServerDied(const ChildProcess& child) {
  return absl::StartsWith(child.name(), "server/") &&
         (child.exit_code() > 128 || child.exit_code() == kExitPeerLost);
}

// Decides whether the job survives `child`, a server that died while the
// job runs: with a complete checkpoint and restarts left, records the
// rollback (the steps it undoes), says so and returns true; otherwise says
// why not and returns false (then the job fails).
bool PlanRollBack(Job& job, const ChildProcess& child,
                  CoordinatorClient& client, ProgressDisplay& display) {
  display.Clear();
  const std::string died = absl::StrCat(child.name(), " (pid ", child.pid(),
                                        ") ", child.DescribeExit());
  if (!job.checkpoints_on || job.max_server_restarts == 0) {
    std::fprintf(stderr,
                 "descent local: %s; the job cannot go on without it (set "
                 "train.checkpoint so that descent local can roll the job "
                 "back to its last checkpoint)\n",
                 died.c_str());
    return false;
  }
  if (job.server_restarts >= job.max_server_restarts) {
    std::fprintf(stderr,
                 "descent local: %s; the job was already rolled back %d "
                 "times (cluster.max_server_restarts)\n",
                 died.c_str(), job.server_restarts);
    return false;
  }
  absl::StatusOr<FoundCheckpoint> found =
      FindLatestCheckpoint(job.output_dir + "/checkpoints");
  if (!found.ok()) {
    std::fprintf(stderr,
                 "descent local: %s; no complete checkpoint to go on from "
                 "yet (%s)\n",
                 died.c_str(), std::string(found.status().message()).c_str());
    return false;
  }
  // The workers wait for the dead shard and no longer step; after one
  // heartbeat interval their reports hold every step they had done.
  absl::SleepFor(kProgressSettles);
  absl::StatusOr<v1::JobStatus> status = client.GetJobStatus();
  const int64_t at = status.ok() ? status->global_step() : 0;
  const int64_t lost = std::max<int64_t>(0, at - found->manifest.global_step());
  ++job.server_restarts;
  job.steps_lost += lost;
  std::fprintf(stderr,
               "descent local: %s; rolling the job back to its checkpoint "
               "at global step %lld (%s): %lld steps lost (rollback %d of "
               "%d, cluster.max_server_restarts)\n",
               died.c_str(),
               static_cast<long long>(found->manifest.global_step()),
               found->dir.c_str(), static_cast<long long>(lost),
               job.server_restarts, job.max_server_restarts);
  return true;
}

// Stops every process of the job for a rollback: servers and workers at
// once (what they hold is the checkpoint's or is undone by it), then the
// coordinator gently, so that it records the interruption and its
// evaluations. No checkpoint can complete meanwhile: a shard is gone.
void StopForRollBack(Job& job) {
  for (size_t i = 1; i < job.children.size(); ++i) {
    if (!job.children[i]->Poll()) job.children[i]->Signal(SIGKILL);
  }
  StopCoordinator(job);
  TerminateAll(job.children, absl::Seconds(3));
  for (auto& [name, worker] : job.workers) {
    worker.restart_at = absl::InfiniteFuture();
  }
  job.resume = true;
}

// About 1 s, 2 s, 4 s, 8 s, then 10 s, each jittered down by up to half.
absl::Duration RestartBackoff(int restarts) {
  return Backoff(absl::Seconds(1), restarts + 1, absl::Seconds(10));
}

// Applies cluster.on_worker_failure to `child`, a worker that died while
// the job runs. Returns false if the policy does not take care of it (FAIL,
// or RESTART past max_worker_restarts): then the job fails.
bool AbsorbWorkerDeath(Job& job, const ChildProcess& child,
                       ProgressDisplay& display) {
  Job::Worker& worker = job.workers[child.name()];
  if (job.on_worker_failure == v1::CONTINUE) {
    display.Clear();
    std::fprintf(stderr,
                 "descent local: %s (pid %d) %s; the job goes on without it "
                 "(cluster.on_worker_failure: CONTINUE)\n",
                 child.name().c_str(), child.pid(),
                 child.DescribeExit().c_str());
  } else if (job.on_worker_failure == v1::RESTART &&
             worker.restarts < job.max_worker_restarts) {
    const absl::Duration wait = RestartBackoff(worker.restarts);
    ++worker.restarts;
    worker.restart_at = absl::Now() + wait;
    display.Clear();
    std::fprintf(stderr,
                 "descent local: %s (pid %d) %s; restarting it in %s "
                 "(restart %d of %d, cluster.max_worker_restarts)\n",
                 child.name().c_str(), child.pid(),
                 child.DescribeExit().c_str(),
                 absl::FormatDuration(wait).c_str(), worker.restarts,
                 job.max_worker_restarts);
  } else {
    return false;
  }
  job.absorbed.insert(child.pid());
  return true;
}

// Starts the workers whose restart is due. Returns false (after saying
// why) if one cannot be started.
bool RestartDueWorkers(Job& job) {
  const absl::Time now = absl::Now();
  for (auto& [name, worker] : job.workers) {
    if (worker.restart_at > now) continue;
    worker.restart_at = absl::InfiniteFuture();
    absl::Status started = Spawn(job, name, worker.args);
    if (!started.ok()) {
      std::fprintf(stderr, "descent local: cannot restart %s: %s\n",
                   name.c_str(), std::string(started.message()).c_str());
      return false;
    }
  }
  return true;
}

std::string LastLines(const std::string& path, int count) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string tail;
  for (size_t i = lines.size() > size_t(count) ? lines.size() - count : 0;
       i < lines.size(); ++i) {
    absl::StrAppend(&tail, "    ", lines[i], "\n");
  }
  return tail;
}

// Bytes an unprivileged process may still write on the file system holding
// `path`; -1 if that cannot be told.
int64_t FreeBytes(const std::string& path) {
  struct statvfs fs;
  if (::statvfs(path.c_str(), &fs) != 0) return -1;
  return static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
}

// Below this the output directory counts as full: a log line, a summary or
// a checkpoint no longer fits.
constexpr int64_t kNearlyFullBytes = 64 << 10;

int Failed(Job& job, const ChildProcess& child, ProgressDisplay& display) {
  display.Clear();
  const std::string log = LogPath(job, child.name());
  std::string tail = LastLines(log, 8);
  if (tail.empty()) tail = "    (nothing: the log is empty)\n";
  std::fprintf(stderr, "descent local: %s (pid %d) %s; last lines of %s:\n%s",
               child.name().c_str(), child.pid(), child.DescribeExit().c_str(),
               log.c_str(), tail.c_str());
  const int64_t free = FreeBytes(job.output_dir);
  if (free >= 0 && free < kNearlyFullBytes) {
    std::fprintf(stderr,
                 "descent local: the file system holding %s is full (%lld "
                 "bytes free): logs, results and checkpoints cannot be "
                 "written; free space there or choose another --output_dir\n",
                 job.output_dir.c_str(), static_cast<long long>(free));
  }
  const int code = child.exit_code();
  TerminateAll(job.children, absl::Seconds(3));
  std::error_code ignored;
  if (&child == job.children.front().get() &&
      std::filesystem::is_directory(job.output_dir + "/checkpoints", ignored)) {
    std::fprintf(stderr,
                 "descent local: the job can go on from its last complete "
                 "checkpoint: descent local --resume %s\n",
                 job.output_dir.c_str());
  }
  return code > 0 ? code : kExitJobFailed;
}

absl::StatusOr<std::string> WaitForCoordinator(Job& job,
                                               const std::string& ready_file) {
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up && g_interrupt.load() == 0) {
    std::ifstream in(ready_file);
    std::string address;
    if (in >> address) return address;
    if (job.children.front()->Poll()) {
      return absl::UnavailableError("the coordinator exited before serving");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("the coordinator did not start");
}

absl::Status WriteProcesses(const Job& job, const v1::JobStatus* status) {
  std::string text = "# role pid metrics_address\n";
  for (const auto& child : job.children) {
    std::string metrics = "-";
    for (int i = 0; status != nullptr && i < status->members_size(); ++i) {
      if (status->members(i).pid() == child->pid()) {
        metrics = status->members(i).metrics_address();
      }
    }
    absl::StrAppend(&text, child->name(), " ", child->pid(), " ", metrics,
                    "\n");
  }
  return WriteFileAtomically(job.output_dir + "/processes.txt", text);
}

absl::Status StartChildren(Job& job, const v1::JobConfig& config,
                           const std::string& coordinator) {
  for (int s = 0; s < config.cluster().num_servers(); ++s) {
    RETURN_IF_ERROR(Spawn(
        job, absl::StrCat("server/", s),
        {"server", "--coordinator=" + coordinator, absl::StrCat("--shard=", s),
         "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"}));
  }
  for (int w = 0; w < config.cluster().num_workers(); ++w) {
    const std::string name = absl::StrCat("worker/", w);
    std::vector<std::string> args = {
        "worker", "--coordinator=" + coordinator,
        "--metrics_listen=127.0.0.1:0", absl::StrCat("--worker_id=", w),
        absl::StrCat("--local_workers=", config.cluster().num_workers())};
    job.workers[name].args = args;
    RETURN_IF_ERROR(Spawn(job, name, std::move(args)));
  }
  return WriteProcesses(job, nullptr);
}

}  // namespace

namespace {

void ListEndpoints(const v1::JobStatus& status) {
  std::string text = "descent local: metrics endpoints:";
  for (const v1::Member& m : status.members()) {
    absl::StrAppend(&text, " ", absl::AsciiStrToLower(v1::Role_Name(m.role())));
    if (m.role() != v1::COORDINATOR) absl::StrAppend(&text, "/", m.id());
    absl::StrAppend(&text, "=http://", m.metrics_address(), "/metrics");
  }
  std::fprintf(stderr, "%s\n", text.c_str());
}

// Points a Prometheus following --prometheus_sd_file at the members of
// `status` (at none for an empty status). A failure costs monitoring, not
// the job: it is reported and the job goes on.
void PublishTargets(const Job& job, const v1::JobStatus& status) {
  if (job.prometheus_sd_file.empty()) return;
  absl::Status written =
      WriteFileAtomically(job.prometheus_sd_file, PrometheusTargets(status));
  if (!written.ok()) {
    std::fprintf(stderr, "descent local: --prometheus_sd_file: %s\n",
                 std::string(written.message()).c_str());
  }
}

bool AllExited(Job& job) {
  bool all = true;
  for (const auto& child : job.children) all = child->Poll() && all;
  return all;
}

int Interrupted(Job& job, ProgressDisplay& display) {
  display.Clear();
  std::fprintf(stderr,
               "descent local: interrupted (%s); stopping %zu processes\n",
               strsignal(g_interrupt.load()), job.children.size());
  // The coordinator first: it takes a last checkpoint (if the job takes
  // them), ends the job as interrupted, writes summary.json and model/ and
  // tells servers and workers, which then exit on their own; whatever is
  // left after that is stopped.
  if (StopCoordinator(job)) {
    const absl::Time others = absl::Now() + absl::Milliseconds(500);
    while (!AllExited(job) && absl::Now() < others) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  TerminateAll(job.children, absl::Seconds(3));
  return kExitInterrupted;
}

// What the coordinator says of the job: still running, ended, or nothing
// (it did not answer: busy, or shutting down after the end).
enum class JobPhase { kRunning, kEnded, kUnknown };

JobPhase AskJob(CoordinatorClient& client) {
  absl::StatusOr<v1::JobStatus> status = client.GetJobStatus();
  if (!status.ok()) return JobPhase::kUnknown;
  return status->state() == v1::SUCCEEDED || status->state() == v1::FAILED
             ? JobPhase::kEnded
             : JobPhase::kRunning;
}

// How long a failure waits for a coordinator that does not answer (it may
// be ending the job, and then exits with the job's code) before the failed
// child is taken as the cause.
constexpr absl::Duration kUnansweredGrace = absl::Seconds(5);

// Watches the children until the coordinator has exited; returns the exit
// code for the launcher.
//
// A server or worker that fails after the coordinator ended the job (it
// learned the end, and the job's exit code, from a heartbeat; a diverged
// worker exits so) leaves the coordinator a few seconds to write the
// summary and exit with the same code, rather than having it stopped.
int Supervise(Job& job, CoordinatorClient& client, ProgressDisplay& display) {
  bool listed = false;
  bool lingering = false;
  int published = 0;  // members in the discovery file
  absl::Time next_status = absl::Now();
  absl::Time coordinator_grace_ends = absl::InfiniteFuture();
  absl::Time unanswered_since = absl::InfiniteFuture();
  absl::Time linger_cut = absl::InfiniteFuture();
  while (!job.children.front()->Poll()) {
    if (g_interrupt.load() != 0) {
      // Once the job has ended only the coordinator's linger is left: cut
      // it short (SIGTERM ends it, and the coordinator exits with the job's
      // code) and report the job as it ended.
      if (!lingering || absl::Now() > linger_cut + absl::Seconds(3)) {
        return Interrupted(job, display);
      }
      if (linger_cut == absl::InfiniteFuture()) {
        job.children.front()->Signal(SIGTERM);
        linger_cut = absl::Now();
      }
    }
    if (const ChildProcess* failed = FirstFailure(job)) {
      if (coordinator_grace_ends == absl::InfiniteFuture()) {
        const JobPhase phase = AskJob(client);
        if (phase == JobPhase::kUnknown) {
          // Ask again until it answers or exits (the loop then ends), for a
          // bounded time.
          if (unanswered_since == absl::InfiniteFuture()) {
            unanswered_since = absl::Now();
          }
          if (absl::Now() - unanswered_since < kUnansweredGrace) {
            absl::SleepFor(absl::Milliseconds(20));
            continue;
          }
        }
        unanswered_since = absl::InfiniteFuture();
        if (phase != JobPhase::kEnded) {
          if (WorkerDied(job, *failed) &&
              AbsorbWorkerDeath(job, *failed, display)) {
            continue;
          }
          if (ServerDied(*failed) &&
              PlanRollBack(job, *failed, client, display)) {
            return kRollBack;
          }
          return Failed(job, *failed, display);
        }
        coordinator_grace_ends =
            absl::Now() + absl::Seconds(5) + job.metrics_linger;
      } else if (absl::Now() >= coordinator_grace_ends) {
        return Failed(job, *failed, display);
      }
    }
    if (!RestartDueWorkers(job)) {
      TerminateAll(job.children, absl::Seconds(3));
      return kExitJobFailed;
    }
    if (absl::Now() >= next_status) {
      next_status = absl::Now() + absl::Seconds(1);
      absl::StatusOr<v1::JobStatus> status = client.GetJobStatus();
      if (status.ok()) display.Show(*status);
      // Each member from its registration on, so that even a job that ends
      // before this loop sees it running is scraped (and its coordinator's
      // final state, served for --metrics_linger).
      if (status.ok() && status->members_size() != published) {
        PublishTargets(job, *status);
        published = status->members_size();
      }
      if (status.ok() && !lingering &&
          job.metrics_linger > absl::ZeroDuration() &&
          (status->state() == v1::SUCCEEDED || status->state() == v1::FAILED)) {
        lingering = true;
        display.Clear();
        std::fprintf(stderr,
                     "descent local: job %s; the coordinator serves its final "
                     "metrics for %s (--metrics_linger)\n",
                     v1::JobState_Name(status->state()).c_str(),
                     absl::FormatDuration(job.metrics_linger).c_str());
      }
      // Once every member has registered; a short job may have ended by
      // the first poll that sees it past registration.
      if (status.ok() && !listed && status->state() != v1::REGISTERING) {
        listed = WriteProcesses(job, &*status).ok();
        display.Clear();
        ListEndpoints(*status);
      }
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  const ChildProcess* failed = FirstFailure(job);
  if (failed != nullptr && failed != job.children.front().get()) {
    // The coordinator ended the job well and wrote its results; a server or
    // worker that died after that (killed while the coordinator wrote the
    // model) cost nothing.
    display.Clear();
    std::fprintf(stderr,
                 "descent local: %s (pid %d) %s after the job ended; its "
                 "results are complete\n",
                 failed->name().c_str(), failed->pid(),
                 failed->DescribeExit().c_str());
    failed = nullptr;
  }
  if (failed != nullptr) {
    // The coordinator has told the others that the job failed: give them a
    // moment to exit (and log why) on their own.
    const absl::Time give_up = absl::Now() + absl::Seconds(1);
    while (!AllExited(job) && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return Failed(job, *failed, display);
  }
  // The job ended well; servers and workers exit as they learn it.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!AllExited(job) && absl::Now() < give_up) {
    if (g_interrupt.load() != 0) {
      if (!lingering) return Interrupted(job, display);
      break;  // the linger was cut short: stop the rest now
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  TerminateAll(job.children, absl::Seconds(3));
  display.Clear();
  return kExitOk;
}

int Launch(Job& job, const v1::JobConfig& config, ProgressDisplay& display) {
  const std::string ready_file = job.output_dir + "/coordinator.addr";
  std::error_code ignored;  // a reused output directory may hold a stale one
  std::filesystem::remove(ready_file, ignored);
  std::vector<std::string> args = {
      "coordinator",
      "--config=" + job.output_dir + "/config.textproto",
      job.resume ? "--resume=" + job.output_dir
                 : "--output_dir=" + job.output_dir,
      "--ready_file=" + ready_file,
      "--listen=127.0.0.1:0",
      "--metrics_listen=127.0.0.1:0",
      absl::StrCat("--local_workers=", config.cluster().num_workers()),
      "--metrics_linger=" + absl::FormatDuration(job.metrics_linger)};
  if (job.server_restarts > 0) {
    args.push_back(absl::StrCat("--server_restarts=", job.server_restarts));
    args.push_back(absl::StrCat("--steps_lost=", job.steps_lost));
  }
  absl::Status spawned = Spawn(job, "coordinator", args);
  if (spawned.ok()) spawned = WriteProcesses(job, nullptr);
  if (!spawned.ok()) {
    std::fprintf(stderr, "descent local: %s\n",
                 std::string(spawned.message()).c_str());
    TerminateAll(job.children, absl::Seconds(3));
    return kExitJobFailed;
  }
  absl::StatusOr<std::string> address = WaitForCoordinator(job, ready_file);
  if (g_interrupt.load() != 0) return Interrupted(job, display);
  if (!address.ok()) {
    if (const ChildProcess* failed = FirstFailure(job)) {
      return Failed(job, *failed, display);
    }
    std::fprintf(stderr, "descent local: %s\n",
                 std::string(address.status().message()).c_str());
    TerminateAll(job.children, absl::Seconds(3));
    return kExitJobFailed;
  }
  std::fprintf(
      stderr, "descent local: job %s, coordinator at %s, output in %s\n",
      config.job_id().c_str(), address->c_str(), job.output_dir.c_str());
  absl::Status started = StartChildren(job, config, *address);
  if (!started.ok()) {
    std::fprintf(stderr, "descent local: %s\n",
                 std::string(started.message()).c_str());
    TerminateAll(job.children, absl::Seconds(3));
    return kExitJobFailed;
  }
  GrpcCoordinatorClient client(*address, job.security, absl::Seconds(1));
  return Supervise(job, client, display);
}

absl::Status PrepareOutput(const v1::JobConfig& config,
                           const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir + "/logs", error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(
        dir, ": cannot create output directory: ", error.message()));
  }
  return WriteFileAtomically(dir + "/config.textproto",
                             JobConfigToText(config));
}

}  // namespace

int RunLocal(const LocalOptions& options) {
  const bool resuming = !options.resume_dir.empty();
  absl::StatusOr<v1::JobConfig> config =
      resuming ? ResumeConfig(options.resume_dir, options.overrides)
               : LoadJobConfig(options.config_path, options.overrides);
  if (!config.ok()) {
    std::fprintf(stderr, "descent local: %s%s\n", resuming ? "--resume: " : "",
                 std::string(config.status().message()).c_str());
    // A resume's checkpoint missing or damaged is a data error (3); any
    // problem with the config itself, its file included, is 2.
    return !resuming || absl::IsInvalidArgument(config.status())
               ? kExitBadConfig
               : ExitCodeFor(config.status());
  }
  AssignJobId(&*config);
  // This launcher restarts workers that die, unless told otherwise.
  if (config->cluster().on_worker_failure() ==
      v1::WORKER_FAILURE_POLICY_UNSPECIFIED) {
    config->mutable_cluster()->set_on_worker_failure(v1::RESTART);
  }
  // Before anything starts or is written: every input file must be there.
  absl::Status inputs = CheckInputFiles(config->data());
  if (!inputs.ok()) {
    std::fprintf(stderr, "descent local: %s\n",
                 std::string(inputs.message()).c_str());
    return kExitDataError;
  }
  Job job;
  job.binary = options.binary;
  job.prometheus_sd_file = options.prometheus_sd_file;
  job.metrics_linger = options.metrics_linger;
  job.security = options.security;
  job.security_flags = options.security_flags;
  job.output_dir =
      resuming ? options.resume_dir : OutputDirOf(options.output_dir, *config);
  job.resume = resuming;
  job.on_worker_failure = config->cluster().on_worker_failure();
  job.max_worker_restarts = config->cluster().max_worker_restarts();
  job.checkpoints_on = CheckpointsOn(config->train());
  job.max_server_restarts = config->cluster().max_server_restarts();
  absl::Status claimed = resuming
                             ? absl::OkStatus()
                             : ClaimOutputDir(job.output_dir, LocalJobEntries(),
                                              options.overwrite);
  if (!claimed.ok()) {
    std::fprintf(stderr, "descent local: %s\n",
                 std::string(claimed.message()).c_str());
    return kExitUsage;
  }
  absl::Status prepared = PrepareOutput(*config, job.output_dir);
  if (!prepared.ok()) {
    std::fprintf(stderr, "descent local: %s\n",
                 std::string(prepared.message()).c_str());
    return kExitJobFailed;
  }
  if (!job.prometheus_sd_file.empty()) {
    // Clears what a previous job may have left, and checks early that the
    // file can be written.
    absl::Status cleared = WriteFileAtomically(job.prometheus_sd_file, "[]\n");
    if (!cleared.ok()) {
      std::fprintf(stderr, "descent local: --prometheus_sd_file: %s\n",
                   std::string(cleared.message()).c_str());
      return kExitUsage;
    }
  }
  OnStopSignals(OnInterrupt);
  ProgressDisplay display(*config);
  int code = Launch(job, *config, display);
  while (code == kRollBack) {
    StopForRollBack(job);
    if (g_interrupt.load() != 0) {
      code = kExitInterrupted;
      break;
    }
    code = Launch(job, *config, display);
  }
  PublishTargets(job, v1::JobStatus());  // the job's processes are gone
  if (code == kExitOk) return PrintResult(job.output_dir);
  return code;
}

}  // namespace descent
