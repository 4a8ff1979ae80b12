// `descent coordinator`: serves the Coordinator service for one job until
// the job ends, evaluating on the test set as it goes and writing the
// job's output files (server/job_output.h).
#ifndef DESCENT_ROLES_COORDINATOR_ROLE_H_
#define DESCENT_ROLES_COORDINATOR_ROLE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "descent/v1/job.pb.h"
#include "rpc/security.h"
#include "server/coordinator/job_output.h"

namespace descent {

struct CoordinatorRoleOptions {
  // Loaded and validated; a job id is generated if empty.
  v1::JobConfig config;
  // gRPC and /metrics addresses; port 0 picks a free port.
  std::string listen = "127.0.0.1:0";
  std::string metrics_listen = "127.0.0.1:0";
  // Created if missing; receives evals.csv and summary.json. Empty:
  // runs/<job id>.
  std::string output_dir;
  // If set, the gRPC address (host:port) is written here once serving.
  std::string ready_file;
  // TLS and the job token (rpc/security.h), served and sent; insecure
  // allows a non-loopback listen address without TLS.
  RpcSecurity security;
  // Reuse an output directory holding another job's results, deleting them
  // (false: refuse it).
  bool overwrite = false;
  // Workers of this job on this host: they share its cores with the
  // evaluation (train.threads 0).
  int local_workers = 0;
  // After the job ends (results written, members told), keep serving
  // /metrics and gRPC this long, so Prometheus scrapes the final
  // descent_job_state (DescentJobFailed) even of a job that ended at once:
  // at least two scrape intervals. SIGTERM or SIGINT cuts it short; the
  // exit code is the job's either way.
  absl::Duration metrics_linger = absl::ZeroDuration();
  // `descent coordinator --resume DIR`: continue the job whose output
  // directory is DIR, in DIR, from its newest complete checkpoint (damaged
  // newer ones are logged as DATA_LOSS and passed over). `config` must be
  // that checkpoint's, changed at most as CheckResumable allows.
  std::string resume_dir;
  // Rollbacks of this job to a checkpoint after a server died, and the
  // global steps they undid (descent local's --server_restarts and
  // --steps_lost): reported in summary.json.
  int server_restarts = 0;
  int64_t steps_lost = 0;
};

// Runs the coordinator until the job ends; returns the process exit code
// (common/exit_codes.h): 0 if the job succeeded.
int RunCoordinator(const CoordinatorRoleOptions& options);

// Writes `params` to `path` as WriteParameters does (best_params.bin) and,
// if that succeeds, counts one checkpoint and its duration in `metrics`.
// Returns WriteParameters' error, counting nothing.
absl::Status WriteCheckpoint(const std::string& path,
                             const SavedParameters& params,
                             CoordinatorMetrics& metrics);

}  // namespace descent

#endif  // DESCENT_ROLES_COORDINATOR_ROLE_H_
