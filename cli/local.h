// `descent local`: a whole job on this machine. Starts one coordinator,
// S servers and W workers as child processes of this same binary on
// 127.0.0.1 (each on free ports), shows progress on stderr, prints the
// result on stdout, and stops every child on success, failure or Ctrl-C.
//
// The output directory receives the coordinator's evals.csv and
// summary.json, plus config.textproto (the job exactly as it ran),
// processes.txt (role, pid and metrics address of each child) and logs/
// (one log per child). With a Prometheus service-discovery file, it also
// keeps that file listing the children's metrics endpoints while the job
// runs (cli/prometheus_targets.h).
#ifndef DESCENT_CLI_LOCAL_H_
#define DESCENT_CLI_LOCAL_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "rpc/security.h"

namespace descent {

struct LocalOptions {
  std::string config_path;
  std::vector<std::string> overrides;  // --set PATH=VALUE, in order
  // --resume DIR: continue the job in DIR from its newest complete
  // checkpoint (config_path empty; ResumeConfig applies the overrides).
  std::string resume_dir;
  // Empty: runs/<job id>.
  std::string output_dir;
  // Reuse an output directory that holds another job's results, deleting
  // them (false: refuse it, exit 1).
  bool overwrite = false;
  // The descent binary to start children from (normally /proc/self/exe).
  std::string binary;
  // Empty: none. Else a file to keep as Prometheus file_sd JSON: [] at the
  // start and end of the job, every child's metrics endpoint while it runs.
  // Its directory must exist.
  std::string prometheus_sd_file;
  // The coordinator's --metrics_linger: how long it keeps serving its final
  // metrics after the job ends (and this launcher waits for it). The
  // subcommand passes 0 unless there is a prometheus_sd_file.
  absl::Duration metrics_linger = absl::ZeroDuration();
  // The launcher's own calls to the coordinator; its job token (from
  // DESCENT_JOB_TOKEN, which the children inherit, or --token_file).
  RpcSecurity security;
  // Flags every child gets: --token_file, --tls_cert, --tls_key, --tls_ca.
  std::vector<std::string> security_flags;
};

// Runs the job; returns the exit code (README, "Exit codes"): 0 if the job
// succeeded, the first failing child's code if one failed, 130 if
// interrupted, 1 if the service-discovery file cannot be written at the
// start or the output directory holds another job's results, 3 if an input
// file is missing or unreadable (checked before anything starts).
int RunLocal(const LocalOptions& options);

}  // namespace descent

#endif  // DESCENT_CLI_LOCAL_H_
